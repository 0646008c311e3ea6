// The built npm package (client-wasm/pkg) in Node with its global WebSocket, as a server
// script imports it: no browser, no bundler. Starts a mosquitto and the mqttwire-bridge
// binary in front of it on free loopback ports, then through the bridge: connect,
// subscribe, publish and receive at QoS 0, 1 and 2, reconnect across a bridge restart, end.
//
//   node --experimental-websocket client-wasm/tests/js/node.test.mjs   (Node 20; 22+ needs no flag)
//
// after client-wasm/build.sh and `cargo build -p ws-bridge --bin mqttwire-bridge`. Prints
// "N passed, N failed" and exits non-zero on failure.
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  children, freePort, launchBridge, sleep, start, startMosquitto, stop, until, within,
} from '../../../tests/js-support/servers.mjs';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const BRIDGE = process.env.MQTTWIRE_BRIDGE_BIN ?? join(root, 'target/debug/mqttwire-bridge');
if (typeof WebSocket !== 'function') throw new Error('no global WebSocket: run Node 22+, or Node 20 with --experimental-websocket');

const dir = await mkdtemp(join(tmpdir(), 'mqttwire-node-'));
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

let passed = 0;
let failed = 0;
const check = (name, ok, detail) => {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok ? '' : ': ' + JSON.stringify(detail)}`);
};

const mosquitto = await startMosquitto(dir);
const bridgePort = await freePort();
const metricsPort = await freePort();
const startBridge = () => launchBridge(BRIDGE, {
  port: bridgePort, broker: `mqtt://127.0.0.1:${mosquitto.port}`, origin: 'http://127.0.0.1', metricsPort,
});
let bridge = await startBridge();
const url = `ws://127.0.0.1:${bridgePort}/mqtt`;

const { connectAsync } = await import('../../pkg/index.js');
const text = (payload) => new TextDecoder().decode(payload);

const log = { events: [], messages: [] };
try {
  const client = await within('connectAsync', 10_000, connectAsync(url, {
    protocolVersion: 5, keepalive: 30, reconnect: { minDelay: 200, maxDelay: 400 },
  }));
  check('connectAsync resolves with a connected client in node', client.connected === true, client.connected);
  for (const e of ['connect', 'close', 'offline', 'reconnect', 'end', 'reconnecting', 'error']) client.on(e, (x) => log.events.push(e + (process.env.DEBUG ? JSON.stringify(x ?? null) + (x?.message ?? '') : '')));
  client.on('message', (topic, payload, packet) => log.messages.push({ topic, text: text(payload), qos: packet.qos }));
  const base = 'node/' + Math.random().toString(16).slice(2);
  const granted = await client.subscribeAsync(`${base}/#`, { qos: 2 });
  check('subscribeAsync resolves with the granted QoS', granted[0]?.qos === 2, granted);

  const roundTrip = async (tag) => {
    const results = await within(`${tag} publishes`, 10_000, Promise.all([0, 1, 2].map((qos) =>
      client.publishAsync(`${base}/${tag}/${qos}`, `${tag} ${qos}`, { qos }))));
    await until(`${tag} messages`, 10_000, async () => log.messages.filter((m) => m.topic.includes(`/${tag}/`)).length >= 3).catch(() => {});
    await sleep(200); // room for duplicates
    const got = log.messages.filter((m) => m.topic.includes(`/${tag}/`)).map((m) => `${m.text} q${m.qos}`).sort();
    return { results, got };
  };
  const first = await roundTrip('first');
  check('QoS 0, 1 and 2 publishes resolve with reason code 0', first.results.every((r) => r.reasonCode === 0), first.results);
  check('each message comes back once at its QoS', JSON.stringify(first.got) === JSON.stringify(['first 0 q0', 'first 1 q1', 'first 2 q2']), first.got);

  await stop(bridge, 'SIGKILL');
  await until('the client to notice the bridge is gone', 10_000, async () => log.events.includes('offline'));
  await sleep(600); // a failed attempt or two against the closed port
  bridge = await startBridge();
  await until('the client to reconnect', 15_000, async () => client.connected && log.events.includes('connect'));
  check('close, offline, reconnect and connect across a bridge restart',
    ['close', 'offline', 'reconnect', 'connect'].every((e) => log.events.includes(e)), log.events);
  const again = await roundTrip('again');
  check('the session (subscription) works after the restart',
    JSON.stringify(again.got) === JSON.stringify(['again 0 q0', 'again 1 q1', 'again 2 q2']), again.got);

  await within('endAsync', 5000, client.endAsync());
  check('endAsync ends the client', client.connected === false && log.events.at(-1) === 'end', log.events);

  // getLastMessageId() and reconnect(), on a client of their own.
  const other = await within('connectAsync', 10_000, connectAsync(url, { protocolVersion: 5 }));
  const ids = [other.getLastMessageId()];
  await other.publishAsync(`${base}/ids`, 'x', { qos: 1 });
  ids.push(other.getLastMessageId());
  await other.subscribeAsync(`${base}/ids/#`, { qos: 1 });
  ids.push(other.getLastMessageId());
  await other.publishAsync(`${base}/ids`, 'x', { qos: 0 });
  ids.push(other.getLastMessageId());
  check('getLastMessageId: null before one, then the identifier of each QoS 1 publish and subscribe, not of QoS 0',
    JSON.stringify(ids) === '[null,1,2,2]', ids);
  const seen = [];
  for (const e of ['close', 'offline', 'reconnect', 'connect', 'end']) other.on(e, () => seen.push(e));
  const got = [];
  other.on('message', (topic, payload) => got.push(text(payload)));
  other.reconnect();
  await until('reconnect() to connect again', 5000, async () => seen.includes('connect'));
  check('reconnect() while connected: reconnect, close and connect, no offline',
    ['reconnect', 'close', 'connect'].every((e) => seen.includes(e)) && !seen.includes('offline') && other.connected, seen);
  await other.publishAsync(`${base}/ids/after`, 'after reconnect()', { qos: 1 });
  await until('the message after reconnect()', 5000, async () => got.includes('after reconnect()')).catch(() => {});
  check('the subscription holds after reconnect()', got.includes('after reconnect()'), got);
  await other.endAsync();
  seen.length = 0;
  other.reconnect();
  await until('reconnect() after end', 5000, async () => other.connected).catch(() => {});
  check('reconnect() after end starts the client again', seen.includes('connect') && other.connected, seen);
  await other.endAsync();
  check('and it ends again', !other.connected && seen.at(-1) === 'end', seen);

  // A script that connects and ends exits by itself: nothing of the client keeps node's
  // event loop alive after end.
  const script = `const { connectAsync } = await import(${JSON.stringify(new URL('../../pkg/index.js', import.meta.url).href)});
    const c = await connectAsync(${JSON.stringify(url)}); await c.publishAsync('node/exit', 'x', { qos: 1 }); await c.endAsync();`;
  const child = start(process.execPath, ['--experimental-websocket', '--input-type=module', '-e', script]);
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  child.stdout.resume();
  const code = await within('the script to exit', 10_000, child.exited).catch((e) => String(e));
  check('a script that connects and ends exits by itself', code === 0, { code, stderr });
} catch (error) {
  check('the node test ran', false, String(error?.stack ?? error)); if (process.env.DEBUG) console.log(log.events);
} finally {
  await stop(bridge);
  await stop(mosquitto.child);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
