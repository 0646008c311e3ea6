// What both apps share: where the broker is, and the connection banner.

/**
 * The bridge that served this page relays MQTT on /mqtt; `?broker=ws://host:port/mqtt`
 * points the app elsewhere.
 */
export function brokerUrl() {
  const given = new URLSearchParams(location.search).get('broker');
  if (given) return given;
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/mqtt`;
}

/**
 * Keeps `element` showing the connection state of `client`: connecting, online,
 * reconnecting in N s, offline. The state is also in `element.dataset.state` for tests
 * and styles.
 */
export function connectionBanner(client, element) {
  let countdown = null;
  const show = (state, text) => {
    element.dataset.state = state;
    element.textContent = text;
  };
  const stopCountdown = () => {
    if (countdown !== null) clearInterval(countdown);
    countdown = null;
  };
  show('connecting', 'Connecting…');
  client.on('connect', () => { stopCountdown(); show('online', 'Online'); });
  client.on('reconnect', () => { stopCountdown(); show('connecting', 'Connecting…'); });
  client.on('offline', () => {
    if (element.dataset.state !== 'reconnecting') show('offline', 'Offline');
  });
  client.on('reconnecting', ({ delay }) => {
    stopCountdown();
    const at = Date.now() + delay;
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((at - Date.now()) / 1000));
      show('reconnecting', `Connection lost. Reconnecting in ${seconds} s…`);
    };
    tick();
    countdown = setInterval(tick, 250);
  });
  client.on('end', () => { stopCountdown(); show('offline', 'Offline'); });
  window.addEventListener('offline', () => { stopCountdown(); show('offline', 'Offline: no network'); });
  window.addEventListener('online', () => {
    if (client.connected) show('online', 'Online');
    else show('connecting', 'Connecting…');
  });
}
