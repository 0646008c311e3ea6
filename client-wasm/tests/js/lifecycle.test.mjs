// The built npm package (client-wasm/pkg) through a tab's life in Debian's Chromium, against
// processes this test starts itself on free loopback ports: a mosquitto (plain MQTT and
// WebSocket listeners) and the mqttwire-bridge binary in front of it. Five tests:
//
//   keepalive  a client in a background tab under Chrome's intensive timer throttling
//              (once a minute) keeps its connection: PINGREQs keep flowing, no close.
//   fallback   where no worker starts (no Worker, a policy refusing workers), the window's
//              timers keep a 1 s keepalive.
//   will       closing a tab without DISCONNECT makes the broker publish the will, seen by
//              mosquitto_sub; a client ended normally publishes none.
//   reconnect  the bridge is killed and started again on the same port: the client
//              reconnects, its subscription works again, and QoS 0, 1 and 2 messages
//              published while it was down arrive exactly once.
//   memory     1,000 clients connected, subscribed and ended in a loop leave the JS heap
//              and the wasm memory flat and every socket closed.
//   burst      a page connected through the bridge publishes 100,000 QoS 1 messages of
//              64 B from one loop: every one is accepted, and mosquitto_sub gets all of
//              them in order; offline, publishes fill a small byte bound (maxQueuedBytes)
//              and the next rejects with QUEUE_FULL naming it, and when the bridge comes up
//              every accepted message arrives, in order.
//
//   node client-wasm/tests/js/lifecycle.test.mjs [keepalive|fallback|will|reconnect|memory|burst]...
//
// after client-wasm/build.sh and `cargo build -p ws-bridge --bin mqttwire-bridge`
// (tests/run-all.sh does both). Prints "N passed, N failed" and exits non-zero on failure.
//
// Chromium is driven over the DevTools protocol on a pipe, not through Playwright: a page
// Playwright opens stays 'visible' behind another tab, so a background tab cannot be tested
// through it.
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  bridgeMetric, children, freePort, launchBridge, onLines, servePackage, sleep, start, startMosquitto, stop, until, within,
} from '../../../tests/js-support/servers.mjs';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const pkg = normalize((process.env.MQTTWIRE_PKG ?? join(root, 'client-wasm/pkg')) + '/');
const BRIDGE = process.env.MQTTWIRE_BRIDGE_BIN ?? join(root, 'target/debug/mqttwire-bridge');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ALL = ['keepalive', 'fallback', 'will', 'reconnect', 'memory', 'burst'];
const selected = process.argv.length > 2 ? process.argv.slice(2) : ALL;
for (const name of selected) if (!ALL.includes(name)) throw new Error(`unknown test ${name}; tests: ${ALL.join(' ')}`);

// Every process started here (`children`) is killed on the way out whatever happens, and
// the directory holding their files removed.
const dir = await mkdtemp(join(tmpdir(), 'mqttwire-lifecycle-'));
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    const exited = [...children].map((child) => child.exited);
    for (const child of children) child.kill('SIGKILL');
    // Chromium's helper processes write to its profile for a moment after it is killed.
    await Promise.race([Promise.all(exited).then(() => sleep(500)), sleep(3000)]);
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }).catch(() => {});
    process.exit(130);
  });
}

/** The /metrics port of the bridge listening on each port. */
const metricsPorts = new Map();

/** The mqttwire-bridge binary on `port` in front of mosquitto's plain listener, with its
 * /metrics on a port of its own. */
async function startBridge(port, brokerPort) {
  if (!metricsPorts.has(port)) metricsPorts.set(port, await freePort());
  // The pages come from the package server: the bridge is told their origin.
  return launchBridge(BRIDGE, {
    port, broker: `mqtt://127.0.0.1:${brokerPort}`, origin: new URL(site).origin, metricsPort: metricsPorts.get(port),
  });
}

/** A counter of the bridge's /metrics, summed over the lines matching `labels`. */
const metric = (port, name, labels) => bridgeMetric(metricsPorts.get(port), name, labels);

/** mosquitto_sub on `filter`, collecting `topic payload` lines; resolves once mosquitto has
 * logged its SUBACK. */
async function subscriber(mosquitto, filter) {
  const id = `sub-${Math.random().toString(16).slice(2, 10)}`;
  const child = start('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(mosquitto.port), '-i', id, '-q', '1', '-v', '-t', filter]);
  const sub = { child, messages: [] };
  onLines(child.stdout, (line) => sub.messages.push(line));
  child.stderr.resume();
  await until('mosquitto_sub to subscribe', 10_000, () => mosquitto.log().includes(`Sending SUBACK to ${id}`));
  return sub;
}

async function publish(port, topic, message) {
  const child = start('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-t', topic, '-m', message]);
  child.stdout.resume();
  child.stderr.resume();
  const code = await within('mosquitto_pub', 10_000, child.exited);
  if (code !== 0) throw new Error(`mosquitto_pub exited with ${code}`);
}

// --- the page and the static server -------------------------------------------------

const page = (before = '') => `<!doctype html>${before}
<script type="importmap">{ "imports": { "mqttwire": "/mqttwire/index.js" } }</script>
<script type="module">
  import { connect, connectAsync, memoryBytes } from 'mqttwire';
  window.lib = { connect, connectAsync, wasmBytes: memoryBytes };
  window.ready = true;
</script>`;

/** The package and the pages: `/`, `/?no-worker` (a page without Worker) and `/?csp` (a page
 * whose policy refuses workers). */
const serve = () => servePackage(pkg, (url) => {
  if (url === '/') return { body: page() };
  if (url === '/?no-worker') return { body: page('\n<script>window.Worker = undefined;</script>') };
  if (url === '/?csp') return { body: page(), headers: { 'content-security-policy': "worker-src 'none'" } };
  return undefined;
});

// --- Chromium over the DevTools protocol ------------------------------------------------

class Chromium {
  /** Starts headless Chromium with `args` added, talking DevTools protocol on fds 3 and 4. */
  static async launch(dir, args = []) {
    const child = start(CHROMIUM, [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--disable-extensions',
      '--remote-debugging-pipe', `--user-data-dir=${dir}`, ...args, 'about:blank',
    ], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    child.stderr.resume();
    return new Chromium(child);
  }

  constructor(child) {
    this.child = child;
    this.next = 0;
    this.waiting = new Map();
    this.listeners = new Map();
    let buffer = '';
    child.stdio[4].on('data', (d) => {
      buffer += d;
      let i;
      while ((i = buffer.indexOf('\0')) >= 0) {
        const message = JSON.parse(buffer.slice(0, i));
        buffer = buffer.slice(i + 1);
        if (message.id !== undefined) {
          const waiter = this.waiting.get(message.id);
          this.waiting.delete(message.id);
          if (message.error) waiter?.reject(new Error(`${waiter.method}: ${message.error.message}`));
          else waiter?.resolve(message.result);
        } else {
          this.listeners.get(message.sessionId)?.(message);
        }
      }
    });
    child.stdio[4].on('error', () => {});
    child.stdio[3].on('error', () => {});
  }

  /** Sends a command (to a tab's session when given); at most 60 s. */
  send(method, params = {}, sessionId = undefined) {
    const id = ++this.next;
    const reply = new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject, method }));
    this.child.stdio[3].write(JSON.stringify({ id, method, params, sessionId }) + '\0');
    return within(method, 60_000, reply).finally(() => this.waiting.delete(id));
  }

  /** Opens `url` in a new tab in front (in a window of its own with `newWindow`, so that it
   * stays visible) and waits until the page has loaded the package. */
  async tab(url, { newWindow = false } = {}) {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank', newWindow });
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
    const tab = new Tab(this, targetId, sessionId);
    this.listeners.set(sessionId, (m) => {
      if (m.method === 'Runtime.exceptionThrown') tab.errors.push(m.params.exceptionDetails.exception?.description ?? m.params.exceptionDetails.text);
    });
    await this.send('Runtime.enable', {}, sessionId);
    await this.send('Page.navigate', { url }, sessionId);
    await until('the page to load the package', 15_000, () => tab.evaluate(() => window.ready === true).catch(() => false));
    return tab;
  }

  async close() {
    await this.send('Browser.close').catch(() => {});
    await stop(this.child);
  }
}

class Tab {
  constructor(browser, targetId, sessionId) {
    Object.assign(this, { browser, targetId, sessionId, errors: [] });
  }

  /** Runs `fn(...args)` in the page and resolves to its (awaited, JSON-like) result. */
  async evaluate(fn, ...args) {
    const expression = `(${fn})(...${JSON.stringify(args)})`;
    const r = await this.browser.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, this.sessionId);
    if (r.exceptionDetails) throw new Error(r.exceptionDetails.exception?.description ?? r.exceptionDetails.text);
    return r.result.value;
  }

  send(method, params = {}) {
    return this.browser.send(method, params, this.sessionId);
  }

  /** Closes the tab the way a user does: no unload handshake with the page's sockets. */
  close() {
    return this.browser.send('Target.closeTarget', { targetId: this.targetId });
  }
}

// --- the tests --------------------------------------------------------------------------

let passed = 0;
let failed = 0;
const check = (name, ok, detail) => {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok ? '' : ': ' + JSON.stringify(detail)}`);
};
const unique = (prefix) => `${prefix}/${Math.random().toString(16).slice(2, 10)}`;

/** Chrome throttles a hidden page's timer chains to one wake-up a minute (aligned on whole
 * minutes) after this grace period: 5 min by default, shortened here to fit a CI run. */
const GRACE_S = 10;
/** The keepalive the client must hold: mosquitto drops it after 1.5 times this in silence. */
const KEEPALIVE_S = 5;
/** Seconds the tab stays hidden: the grace period, up to a minute until the first throttled
 * wake-up, and the broker's timeout. A client whose timers Chrome throttled is dropped
 * within it (checked by running this test on a build with window timers only). */
const HIDDEN_S = 80;

async function keepaliveTest(env) {
  const browser = await Chromium.launch(env.chromeDir('keepalive'), [
    `--enable-features=IntensiveWakeUpThrottling:grace_period_seconds/${GRACE_S}`,
  ]);
  try {
    const tab = await browser.tab(env.site);
    const topic = unique('keepalive');
    const clientId = topic.replace('/', '-');
    await tab.evaluate(async (url, clientId, keepalive, topic) => {
      const events = [];
      const client = await lib.connectAsync(url, { clientId, keepalive, reconnect: { minDelay: 100, maxDelay: 1000 } });
      for (const e of ['close', 'offline', 'reconnect', 'error', 'end']) client.on(e, () => events.push(e));
      // A control: a chain of 1 s page timers, which Chrome throttles in a hidden tab.
      const chain = [];
      const tick = () => { chain.push(performance.now()); setTimeout(tick, 1000); };
      tick();
      // What a telemetry page does: publish from an interval timer. Chrome throttles the
      // interval too, and a timer the client set from inside it would be throttled with it.
      const interval = setInterval(() => client.publish(`${topic}/telemetry`, 'tick'), 1000);
      window.ka = { client, events, chain, interval };
    }, env.bridgeUrl, clientId, KEEPALIVE_S, topic);
    const pingsBefore = await metric(env.bridgePort, 'packets', ['upstream', 'pingreq']);
    const front = await browser.tab(env.site);
    const hidden = await tab.evaluate(() => document.visibilityState);
    check('the client tab is hidden behind another tab', hidden === 'hidden', hidden);
    const t0 = Date.now() / 1000;
    await sleep(HIDDEN_S * 1000);
    const t1 = Date.now() / 1000;
    const pings = (await metric(env.bridgePort, 'packets', ['upstream', 'pingreq'])) - pingsBefore;
    // What mosquitto received from the client while the tab was hidden (its log has whole
    // seconds), with the start and the end of the wait.
    const heard = [...env.mosquitto.log().matchAll(/^(\d+): Received (PINGREQ|PUBLISH) from (\S+)/gm)]
      .filter((m) => m[3] === clientId).map((m) => Number(m[1])).filter((t) => t >= Math.floor(t0) && t <= t1);
    const marks = [Math.floor(t0), ...heard, Math.ceil(t1)];
    const silence = Math.max(...marks.slice(1).map((t, i) => t - marks[i]));
    const r = await tab.evaluate(async (topic) => {
      const { client, events, chain, interval } = window.ka;
      clearInterval(interval);
      chain.push(performance.now());
      const gaps = chain.slice(1).map((t, i) => Math.round(t - chain[i]));
      const seen = { connected: client.connected, events: events.slice(), maxGap: Math.max(...gaps), gaps };
      const got = new Promise((resolve) => client.on('message', (t, p) => resolve(new TextDecoder().decode(p))));
      await client.subscribeAsync(topic, { qos: 1 });
      await client.publishAsync(topic, 'still here', { qos: 1 });
      const echo = await got;
      await client.endAsync();
      return { ...seen, echo, state: document.visibilityState };
    }, topic);
    await front.close();
    check('Chrome throttled the hidden tab\'s own 1 s timer chain (a gap of 20 s or more)', r.maxGap >= 20_000 && r.state === 'hidden', r.gaps);
    check(`the client stayed connected for ${HIDDEN_S} s in the throttled tab (no close, offline, reconnect)`,
      r.connected === true && r.events.length === 0, r.events);
    check(`mosquitto heard from the client at least every ${KEEPALIVE_S + 2} s (longest silence ${silence} s)`, silence <= KEEPALIVE_S + 2, marks);
    const expected = Math.floor((HIDDEN_S - 2 * GRACE_S) / KEEPALIVE_S) - 2;
    check(`PINGREQs kept flowing through the bridge (${pings} in ${HIDDEN_S} s, keepalive ${KEEPALIVE_S} s)`, pings >= expected, { pings, expected });
    check('a QoS 1 round trip works after the wait', r.echo === 'still here', r.echo);
    check('mosquitto never timed the client out', !env.mosquitto.log().includes(`Client ${clientId} has exceeded timeout`), 'see the mosquitto log');
    check('no uncaught page errors (keepalive)', tab.errors.length === 0, tab.errors);
  } finally {
    await browser.close();
  }
}

/** Where no worker starts, the window's timers keep the connection (a visible tab). */
async function fallbackTest(env) {
  const browser = await Chromium.launch(env.chromeDir('fallback'));
  try {
    const pages = { 'without Worker': '?no-worker', 'with a policy refusing workers': '?csp' };
    const tabs = {};
    const start = async (url, clientId) => {
      window.events = [];
      window.client = await lib.connectAsync(url, { clientId, keepalive: 1 });
      for (const e of ['close', 'offline', 'reconnect', 'error']) window.client.on(e, () => window.events.push(e));
      return typeof Worker === 'function';
    };
    for (const [name, query] of Object.entries(pages)) {
      const tab = await browser.tab(env.site + query, { newWindow: true });
      const clientId = unique('fallback').replace('/', '-');
      const worker = await tab.evaluate(start, env.bridgeUrl, clientId);
      tabs[name] = { tab, clientId, worker };
    }
    const states = await Promise.all(Object.values(tabs).map(({ tab }) => tab.evaluate(() => document.visibilityState)));
    check('the fallback tabs are visible (in windows of their own)', states.every((s) => s === 'visible'), states);
    // mosquitto drops a client silent for 1.5 s; the window timers must send PINGREQs.
    await sleep(4000);
    for (const [name, { tab, clientId, worker }] of Object.entries(tabs)) {
      const r = await tab.evaluate(async () => {
        const seen = { connected: window.client.connected, events: window.events.slice() };
        await window.client.endAsync();
        return seen;
      });
      const pings = [...env.mosquitto.log().matchAll(/Received PINGREQ from (\S+)/g)].filter((m) => m[1] === clientId).length;
      check(`a page ${name} keeps a 1 s keepalive on window timers (${pings} PINGREQs in 4 s)`,
        r.connected && r.events.length === 0 && pings >= 3 && worker === (name !== 'without Worker'), { ...r, pings, worker });
      check(`no uncaught page errors (${name})`, tab.errors.length === 0, tab.errors);
    }
  } finally {
    await browser.close();
  }
}

async function willTest(env) {
  const browser = await Chromium.launch(env.chromeDir('will'));
  const base = unique('will');
  const sub = await subscriber(env.mosquitto, `${base}/#`);
  try {
    const connectWithWill = async (url, topic, payload) => {
      window.client = await lib.connectAsync(url, { keepalive: 30, will: { topic, payload, qos: 1 } });
      return window.client.connected;
    };
    const ended = await browser.tab(env.site);
    const direct = await browser.tab(env.site);
    const bridged = await browser.tab(env.site);
    const ok = [
      await ended.evaluate(connectWithWill, env.mosquitto.wsUrl, `${base}/ended`, 'ended'),
      await direct.evaluate(connectWithWill, env.mosquitto.wsUrl, `${base}/direct`, 'gone direct'),
      await bridged.evaluate(connectWithWill, env.bridgeUrl, `${base}/bridged`, 'gone bridged'),
    ];
    check('three clients with wills connected', ok.every((c) => c === true), ok);
    await ended.evaluate(() => window.client.endAsync());
    await ended.close();
    await direct.close();
    await bridged.close();
    await until('both wills', 10_000, () => sub.messages.length >= 2).catch(() => {});
    await sleep(500);
    const got = sub.messages.slice().sort();
    check('closing a tab publishes its will (mosquitto WebSocket listener and through the bridge)',
      JSON.stringify(got.filter((m) => !m.includes('/ended'))) === JSON.stringify([`${base}/bridged gone bridged`, `${base}/direct gone direct`]), got);
    check('a client ended with endAsync publishes no will', !got.some((m) => m.includes('/ended')), got);
  } finally {
    await stop(sub.child);
    await browser.close();
  }
}

async function reconnectTest(env) {
  const browser = await Chromium.launch(env.chromeDir('reconnect'));
  const base = unique('reconnect');
  const sub = await subscriber(env.mosquitto, `${base}/#`);
  try {
    const tab = await browser.tab(env.site);
    await tab.evaluate(async (url, base) => {
      const log = { events: [], reconnecting: [], messages: [] };
      const client = await lib.connectAsync(url, { keepalive: 30, reconnect: { minDelay: 200, maxDelay: 400 } });
      for (const e of ['connect', 'close', 'offline', 'reconnect', 'end']) client.on(e, () => log.events.push(e));
      client.on('reconnecting', (info) => log.reconnecting.push(info));
      client.on('message', (t, p) => log.messages.push(`${t} ${new TextDecoder().decode(p)}`));
      await client.subscribeAsync(`${base}/in/#`, { qos: 1 });
      window.rc = { client, log, pending: [] };
    }, env.bridgeUrl, base);
    const state = () => tab.evaluate(() => ({ ...window.rc.log, connected: window.rc.client.connected, queued: window.rc.client.queued }));

    await stop(env.bridge, 'SIGKILL');
    await until('the client to notice the bridge is gone', 10_000, async () => (await state()).events.includes('offline'));
    await tab.evaluate((base) => {
      // QoS 1, 2 and 0 (queueQoSZero is on by default).
      for (const qos of [1, 2, 0]) {
        window.rc.pending.push(window.rc.client.publishAsync(`${base}/in/q${qos}`, `queued ${qos}`, { qos }).then(() => 'ok', (e) => e.code));
      }
    }, base);
    const queued = await until('the publishes to be queued', 5000, async () => (await state()).queued >= 3).catch(() => false);
    check('publishes made while the bridge is down are queued', queued === true, await state());
    // At least two attempts fail against the closed port before the bridge comes back.
    await until('reconnect attempts', 10_000, async () => (await state()).reconnecting.length >= 2);
    env.bridge = await startBridge(env.bridgePort, env.mosquitto.port);
    const after = await until('the client to reconnect', 15_000, async () => { const s = await state(); return s.connected && s.events.includes('connect') && s; });
    const results = await within('the queued publishes', 10_000, tab.evaluate(() => Promise.all(window.rc.pending)));
    check('the queued publishes resolve after reconnecting', results.every((x) => x === 'ok'), results);
    await publish(env.mosquitto.port, `${base}/in/after`, 'after restart');
    await until('the message after the restart', 5000, async () => (await state()).messages.includes(`${base}/in/after after restart`)).catch(() => {});
    await sleep(1000); // room for duplicates to show up
    const s = await state();
    const count = (list, m) => list.filter((x) => x === m).length;
    const queuedMessages = [1, 2, 0].map((qos) => `${base}/in/q${qos} queued ${qos}`);
    check('another client (mosquitto_sub) gets each queued message exactly once',
      queuedMessages.every((m) => count(sub.messages, m) === 1), sub.messages);
    check('the subscription is restored: the page gets its queued messages once each and a message published after the restart',
      queuedMessages.every((m) => count(s.messages, m) === 1) && count(s.messages, `${base}/in/after after restart`) === 1, s.messages);
    const attempts = s.reconnecting.map((r) => r.attempt);
    check('reconnecting events carry a delay and an increasing attempt number',
      s.reconnecting.length >= 2 && s.reconnecting.every((r) => Number.isFinite(r.delay) && r.delay >= 0 && r.delay <= 400 && Number.isInteger(r.attempt))
        && attempts.every((a, i) => i === 0 || a > attempts[i - 1]), s.reconnecting);
    check('close, offline then reconnect and connect were emitted', ['close', 'offline', 'reconnect', 'connect'].every((e) => after.events.includes(e)), after.events);
    check('no uncaught page errors (reconnect)', tab.errors.length === 0, tab.errors);
    await tab.evaluate(() => window.rc.client.endAsync());
  } finally {
    await stop(sub.child);
    await browser.close();
  }
}

/** Clients the memory test connects, subscribes and ends, after a warm-up. */
const CLIENTS = 1000;
const WARM_UP = 300;

async function memoryTest(env) {
  const browser = await Chromium.launch(env.chromeDir('memory'));
  try {
    const tab = await browser.tab(env.site);
    const topic = unique('memory');
    const churn = async (url, n, topic) => {
      for (let i = 0; i < n; i++) {
        const client = await lib.connectAsync(url, { keepalive: 30 });
        client.on('message', () => {});
        client.handle(`${topic}/+`, () => {});
        await client.subscribeAsync(`${topic}/#`, { qos: 1 });
        await client.endAsync();
      }
    };
    const measure = async () => {
      for (let i = 0; i < 3; i++) await tab.send('HeapProfiler.collectGarbage');
      const { usedSize } = await tab.send('Runtime.getHeapUsage');
      return { js: usedSize, wasm: await tab.evaluate(() => lib.wasmBytes()) };
    };
    const connectionsBefore = await metric(env.bridgePort, 'connections_total');
    await tab.evaluate(churn, env.bridgeUrl, WARM_UP, topic);
    const before = await measure();
    const t0 = Date.now();
    await tab.evaluate(churn, env.bridgeUrl, CLIENTS, topic);
    const seconds = (Date.now() - t0) / 1000;
    const after = await measure();
    const open = await until('the bridge to see every socket closed', 10_000, async () => (await metric(env.bridgePort, 'connections_open')) === 0).catch(() => false);
    const accepted = (await metric(env.bridgePort, 'connections_total')) - connectionsBefore;
    const growth = { js: after.js - before.js, wasm: after.wasm - before.wasm };
    console.log(`     ${CLIENTS} clients in ${seconds.toFixed(1)} s; JS heap ${before.js} -> ${after.js} B, wasm memory ${before.wasm} -> ${after.wasm} B`);
    check(`each of the ${CLIENTS + WARM_UP} clients connected through the bridge`, accepted === CLIENTS + WARM_UP, accepted);
    check('every socket was closed', open === true, open);
    check(`the JS heap stays flat over ${CLIENTS} clients (< 64 KiB growth after GC)`, growth.js < 64 * 1024, growth);
    check(`the wasm memory stays flat over ${CLIENTS} clients (at most one 64 KiB page of growth)`, growth.wasm <= 65536, growth);
    check('no uncaught page errors (memory)', tab.errors.length === 0, tab.errors);
  } finally {
    await browser.close();
  }
  const src = join(root, 'client-wasm/src');
  const leaks = [];
  for (const file of await readdir(src)) {
    const text = await readFile(join(src, file), 'utf8');
    text.split('\n').forEach((line, i) => { if (/\.forget\(\)|mem::forget|Box::leak/.test(line)) leaks.push(`${file}:${i + 1}`); });
  }
  check('no .forget(), mem::forget or Box::leak in client-wasm/src', leaks.length === 0, leaks);
}

/** mosquitto_sub on `${base}/#` printing `topic payload` lines into `messages`; resolves
 * once it is subscribed, which it proves by receiving a probe on `${base}/probe` (for a
 * mosquitto that does not log SUBACKs). */
async function observer(mosquitto, base) {
  const child = start('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(mosquitto.port), '-q', '1', '-v', '-t', `${base}/#`]);
  const sub = { child, messages: [] };
  let buffer = '';
  child.stdout.on('data', (d) => {
    buffer += d;
    const lines = buffer.split('\n');
    buffer = lines.pop();
    for (const line of lines) if (line) sub.messages.push(line);
  });
  child.stderr.resume();
  await until('mosquitto_sub to subscribe', 10_000, async () => {
    await publish(mosquitto.port, `${base}/probe`, 'probe');
    return sub.messages.includes(`${base}/probe probe`);
  });
  sub.messages.length = 0;
  return sub;
}

/** The payloads of `messages` (from `observer`) on `topic`, as numbers. */
const sequence = (messages, topic) => messages.filter((m) => m.startsWith(`${topic} `)).map((m) => Number(m.slice(topic.length + 1)));
/** True when `xs` is 0, 1, ..., n - 1. */
const inOrder = (xs, n) => xs.length === n && xs.every((x, i) => x === i);

/** Messages of the burst: 100,000 QoS 1 publishes of 64 B from one loop. */
const BURST = 100_000;

async function burstTest(env) {
  // A mosquitto and a bridge of its own, logging no line per packet.
  const work = join(dir, 'burst');
  await mkdir(work, { recursive: true });
  const mosquitto = await startMosquitto(work, ['max_queued_messages 0'], { logTypes: ['error', 'warning', 'notice', 'information'] });
  const bridgePort = await freePort();
  const bridge = await startBridge(bridgePort, mosquitto.port);
  const browser = await Chromium.launch(env.chromeDir('burst'));
  const base = unique('burst');
  const sub = await observer(mosquitto, base);
  try {
    const tab = await browser.tab(env.site);
    // The loop, then the promises: the page polls for the outcome, as a CDP call may last
    // at most 60 s.
    const accepted = await tab.evaluate(async (url, topic, n) => {
      const client = await lib.connectAsync(url, { keepalive: 30 });
      const burst = { client, settled: 0, failures: [], codes: {} };
      const t0 = performance.now();
      const all = [];
      for (let i = 0; i < n; i++) {
        all.push(client.publishAsync(topic, String(i).padStart(64, '0'), { qos: 1 }).then(
          () => { burst.settled++; },
          (e) => { burst.settled++; burst.codes[e.code] = (burst.codes[e.code] ?? 0) + 1; if (burst.failures.length < 3) burst.failures.push(e.message); }));
      }
      burst.loopMs = performance.now() - t0;
      burst.queuedAfterLoop = client.queued;
      Promise.all(all).then(() => { burst.doneMs = performance.now() - t0; });
      window.burst = burst;
      return { loopMs: burst.loopMs, queued: burst.queuedAfterLoop, failures: burst.failures.length };
    }, `ws://127.0.0.1:${bridgePort}/mqtt`, `${base}/data`, BURST);
    const progress = () => tab.evaluate(() => ({ settled: window.burst.settled, codes: window.burst.codes, failures: window.burst.failures, doneMs: window.burst.doneMs, connected: window.burst.client.connected }));
    const r = await until('the burst to settle', 240_000, async () => { const p = await progress(); return p.doneMs !== undefined && p; });
    await until('mosquitto_sub to get the burst', 60_000, () => sequence(sub.messages, `${base}/data`).length >= BURST).catch(() => {});
    await sleep(500); // room for duplicates to show up
    const got = sequence(sub.messages, `${base}/data`);
    const rate = Math.round(BURST / (r.doneMs / 1000));
    console.log(`     burst: loop ${accepted.loopMs.toFixed(0)} ms (${accepted.queued} queued behind the window), all acknowledged after ${(r.doneMs / 1000).toFixed(1)} s (${rate} msgs/s)`);
    check(`a loop of ${BURST.toLocaleString('en')} QoS 1 publishes while connected is accepted and every promise resolves`,
      accepted.failures === 0 && r.settled === BURST && Object.keys(r.codes).length === 0 && r.connected, { accepted, ...r });
    check(`mosquitto_sub gets all ${BURST.toLocaleString('en')} messages of the burst, in order, once each`, inOrder(got, BURST),
      { count: got.length, firstOutOfPlace: got.findIndex((x, i) => x !== i) });
    await tab.evaluate(() => window.burst.client.endAsync());

    // Offline: a client whose bridge is not up yet fills a 10,000-byte bound.
    const offlinePort = await freePort();
    const LIMIT = 10_000;
    const off = await tab.evaluate((url, topic, limit) => {
      const client = lib.connect(url, { keepalive: 30, maxQueuedBytes: limit, reconnect: { minDelay: 100, maxDelay: 300 } });
      const state = { client, accepted: 0, results: [], refusal: null, after: null };
      window.off = state;
      return new Promise((resolve) => client.once('offline', async () => {
        for (let i = 0; i < 1000 && !state.refusal; i++) {
          // An accepted publish joins the queue; a refused one does not.
          const before = client.queued;
          const p = client.publishAsync(topic, String(i).padStart(64, '0'), { qos: 1 });
          if (client.queued === before + 1) { state.accepted++; state.results.push(p.then(() => 'ok', (e) => e.code)); continue; }
          const e = await p.then(() => null, (e) => e);
          state.refusal = e && { code: e.code, message: e.message, name: e.name };
          if (!e) break;
        }
        // One more after the refusal: still refused, the accepted ones untouched.
        state.after = await client.publishAsync(topic, 'x'.repeat(64), { qos: 1 }).then(() => 'resolved', (e) => e.code);
        resolve({ accepted: state.accepted, refusal: state.refusal, after: state.after, queued: client.queued });
      }));
    }, `ws://127.0.0.1:${offlinePort}/mqtt`, `${base}/offline`, LIMIT);
    const bytesEach = 2 + 2 + `${base}/offline`.length + 2 + 64;
    check(`offline, publishes fill maxQueuedBytes (${LIMIT} B, ${Math.floor(LIMIT / bytesEach)} of ${bytesEach} B) and the next rejects with QUEUE_FULL naming the limit and the option`,
      off.accepted === Math.floor(LIMIT / bytesEach) && off.refusal?.code === 'QUEUE_FULL' && off.refusal.name === 'MqttError'
        && off.refusal.message.includes(`${LIMIT} bytes`) && off.refusal.message.includes('maxQueuedBytes') && off.after === 'QUEUE_FULL' && off.queued === off.accepted, off);
    const late = await startBridge(offlinePort, mosquitto.port);
    try {
      const results = await within('the queued publishes', 20_000, tab.evaluate(() => Promise.all(window.off.results)));
      await until('mosquitto_sub to get the queued messages', 10_000, () => sequence(sub.messages, `${base}/offline`).length >= off.accepted).catch(() => {});
      await sleep(500);
      const queued = sequence(sub.messages, `${base}/offline`);
      check('when the bridge comes up every accepted publish resolves and arrives in order, once each',
        results.length === off.accepted && results.every((x) => x === 'ok') && inOrder(queued, off.accepted), { results: results.filter((x) => x !== 'ok'), queued });
      await tab.evaluate(() => window.off.client.endAsync());
    } finally {
      await stop(late);
    }
    check('no uncaught page errors (burst)', tab.errors.length === 0, tab.errors);
  } finally {
    await stop(sub.child);
    await browser.close();
    await stop(bridge);
    await stop(mosquitto.child);
  }
}

const tests = { keepalive: keepaliveTest, fallback: fallbackTest, will: willTest, reconnect: reconnectTest, memory: memoryTest, burst: burstTest };
const { server, url: site } = await serve();
try {
  const mosquitto = await startMosquitto(dir, ['max_queued_messages 0']);
  const bridgePort = await freePort();
  const env = {
    site, mosquitto, bridgePort,
    bridge: await startBridge(bridgePort, mosquitto.port),
    bridgeUrl: `ws://127.0.0.1:${bridgePort}/mqtt`,
    chromeDir: (name) => join(dir, `chromium-${name}`),
  };
  for (const name of selected) {
    const t0 = Date.now();
    try {
      await tests[name](env);
    } catch (error) {
      check(`the ${name} test ran`, false, String(error?.stack ?? error));
    }
    console.log(`     (${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    if (!children.has(env.bridge)) env.bridge = await startBridge(bridgePort, mosquitto.port);
  }
  await stop(env.bridge);
  await stop(mosquitto.child);
} catch (error) {
  check('the test servers started', false, String(error?.stack ?? error));
} finally {
  server.close();
  for (const child of children) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
