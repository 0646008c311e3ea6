// Tests the built npm package (client-wasm/pkg) exactly as a user loads it: a plain
// <script type="module"> importing 'mqttwire' through an import map, in headless
// Chromium (Debian's, driven by playwright-core), against the bridge whose URL is in
// MQTTWIRE_BRIDGE_WS. Prints "N passed, N failed" and exits non-zero on failure.
//
//   node client-wasm/tests/js/package.test.mjs   (after client-wasm/build.sh)
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { servePackage } from '../../../tests/js-support/servers.mjs';

const pkg = fileURLToPath(new URL('../../pkg/', import.meta.url));
const bridge = process.env.MQTTWIRE_BRIDGE_WS;
if (!bridge) throw new Error('MQTTWIRE_BRIDGE_WS is not set: run through tests/run-all.sh');

const page = `<!doctype html>
<script type="importmap">{ "imports": { "mqttwire": "/mqttwire/index.js" } }</script>
<script type="module">
  import { connectAsync, connect } from 'mqttwire';
  window.run = async (url) => {
    const topic = 'pkg/' + Math.random().toString(16).slice(2);
    const client = await connectAsync(url, { protocolVersion: 5, keepalive: 30 });
    const got = new Promise((resolve) => client.on('message', (t, payload, packet) =>
      resolve({ t, text: new TextDecoder().decode(payload), qos: packet.qos, isView: payload instanceof Uint8Array })));
    const granted = await client.subscribeAsync(topic + '/#', { qos: 1 });
    await client.publishAsync(topic + '/a', 'hello from the package', { qos: 1 });
    const message = await got;
    let handled = null;
    client.handle(topic + '/+', () => { throw new Error('handler boom'); });
    client.handle(topic + '/+', (t) => { handled = t; });
    await client.publishAsync(topic + '/b', new Uint8Array([1, 2, 3]), { qos: 0 });
    await new Promise((r) => setTimeout(r, 200));
    const connected = client.connected;
    await client.endAsync();
    let badHandler = null;
    try { client.handle(topic + '/+', 'not a function'); } catch (e) { badHandler = e.code; }
    let badOption = null;
    try { await connectAsync(url, { keepAlive: 1 }); } catch (e) { badOption = { code: e.code, message: e.message }; }
    const callbacks = await new Promise((resolve) => {
      const c = connect(url);
      c.on('connect', () => c.publish(topic + '/c', 'cb', { qos: 1 }, (err) => c.end(() => resolve(err === null))));
    });
    return { granted, message, handled, badHandler, connected, badOption, callbacks, ended: !client.connected };
  };
  window.ready = true;
</script>`;

const { server, url: base } = await servePackage(pkg, (url) => (url === '/' ? { body: page } : undefined));

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
let passed = 0;
let failed = 0;
const check = (name, ok, detail) => {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok ? '' : ': ' + JSON.stringify(detail)}`);
};
try {
  const tab = await browser.newPage();
  const errors = [];
  tab.on('pageerror', (e) => errors.push(String(e)));
  await tab.goto(base);
  await tab.waitForFunction(() => window.ready === true, null, { timeout: 10_000 });
  const r = await tab.evaluate((url) => window.run(url), bridge);
  check('subscribeAsync resolves with the granted QoS', r.granted?.[0]?.qos === 1, r.granted);
  check('a published message comes back to the message event', r.message?.text === 'hello from the package' && r.message.qos === 1, r.message);
  check('payloads are Uint8Array', r.message?.isView === true, r.message);
  check('per-subscription handlers get matching topics, also after one that threw', typeof r.handled === 'string' && r.handled.endsWith('/b'), r.handled);
  check("a handler's exception reaches the page as an uncaught error", errors.some((e) => e.includes('handler boom')), errors);
  check('a handler that is not a function is refused', r.badHandler === 'INVALID_OPTION', r.badHandler);
  check('connected while connected, not after endAsync', r.connected === true && r.ended === true, r);
  check('an unknown option is an error naming it', r.badOption?.code === 'INVALID_OPTION' && /keepAlive/.test(r.badOption.message), r.badOption);
  check('callback forms work', r.callbacks === true, r.callbacks);
  check('no other uncaught page errors', errors.filter((e) => !e.includes('handler boom')).length === 0, errors);
} catch (error) {
  check('the package test ran', false, String(error));
} finally {
  await browser.close();
  server.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
