// SPDX-License-Identifier: MIT OR Apache-2.0
//
// The browser client side by side with MQTT.js 5 in one headless Chromium, through the same
// mqttwire-bridge to the same mosquitto: messages per second delivered to the `message`
// callback (100,000 x 64 B at QoS 0; 20,000 x 1 KiB at QoS 1), publish throughput (the page
// publishes, a node MQTT.js subscriber over TCP counts), round-trip latency p50/p99, the
// renderer's CPU time per message and the page's JS heap, and the package sizes.
//
//   node bench/browser/run.mjs [--runs 5] [--quick] [--no-build]
//
// See ./README.md. Writes bench/results/browser.md (stdout too) and bench/results/browser.json
// (browser-quick.* with --quick). Exit status 0 whether or not targets are met, 1 on a
// harness failure.
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync, mkdirSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join, extname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import mqtt from 'mqtt';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, cargo, freePort, machineInfo, npmVersion, stats, versionOf } from '../lib.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const build = !args.includes('--no-build');
const runsArg = args.includes('--runs') ? Number(args[args.indexOf('--runs') + 1]) : NaN;
const runs = Number.isInteger(runsArg) && runsArg >= 1 ? Math.max(quick ? 1 : 5, runsArg) : (quick ? 1 : 5);
const receiveCases = quick
  ? [{ name: 'QoS 0, 64 B', qos: 0, size: 64, n: 20_000 }, { name: 'QoS 1, 1 KiB', qos: 1, size: 1024, n: 4_000 }]
  : [{ name: 'QoS 0, 64 B', qos: 0, size: 64, n: 100_000 }, { name: 'QoS 1, 1 KiB', qos: 1, size: 1024, n: 20_000 }];
// Publishing: the same payloads, fewer messages (publishing runs at a few thousand
// messages/s here, and the whole of bench/run.mjs must stay within minutes).
const publishCases = quick
  ? [{ name: 'QoS 0, 64 B', qos: 0, size: 64, n: 5_000 }, { name: 'QoS 1, 1 KiB', qos: 1, size: 1024, n: 1_000 }]
  : [{ name: 'QoS 0, 64 B', qos: 0, size: 64, n: 20_000 }, { name: 'QoS 1, 1 KiB', qos: 1, size: 1024, n: 4_000 }];
// A burst (issue 15): one loop of publishAsync calls with nothing awaited in between, then
// all the promises; the in-flight window paces the wire, not the caller.
// mqttwire paces a burst by its in-flight window (20 on MQTT 3.1.1 by default: the
// protocol cannot tell it the broker's limit); the second case raises it with the option
// users have for that (`maxInflight`; MQTT.js has no window).
const burstN = quick ? 10_000 : 100_000;
const burstCases = [
  { name: 'QoS 1, 64 B, one loop', qos: 1, size: 64, n: burstN },
  { name: 'QoS 1, 64 B, one loop, mqttwire maxInflight 1000', qos: 1, size: 64, n: burstN, mqttwire: { maxInflight: 1000 } },
];
const RTT = { n: quick ? 200 : 500, size: 64, capMs: 5_000 };
/** Most publishes the page keeps unresolved (publishAsync) at once. */
const PUBLISH_WINDOW = 1_000;
/** Per measurement: whatever was delivered by then counts, flagged. */
const CAP_MS = 30_000;
const kinds = ['mqttwire', 'MQTT.js'];
// Receiving is measured a third way too: the client of mqttwire/shared, whose connection
// lives in a SharedWorker that hands each tab its messages by postMessage.
const SHARED = 'mqttwire shared worker';
const receiveKinds = [...kinds, SHARED];
const BASE = quick ? 'browser-quick' : 'browser';

const children = [];
const cleanup = () => { for (const c of children) { try { c.kill('SIGTERM'); } catch {} } };
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
const log = (m) => process.stderr.write(`[bench:browser] ${m}\n`);

async function waitPort(port, ms = 10_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const ok = await new Promise((r) => { const c = net.connect(port, '127.0.0.1'); c.on('connect', () => { c.destroy(); r(true); }); c.on('error', () => r(false)); });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

if (build || !existsSync(join(root, 'client-wasm/pkg/index.js'))) {
  log('bash client-wasm/build.sh (under the cargo lock)');
  const r = spawnSync('flock', ['/tmp/mqttwire-cargo.lock', 'bash', join(root, 'client-wasm/build.sh')], { stdio: ['ignore', 2, 2] });
  if (r.status !== 0) throw new Error('client-wasm/build.sh failed');
}
if (build || !existsSync(join(root, 'target/release/mqttwire-bridge'))) cargo(['build', '-q', '--release', '-p', 'ws-bridge']);

const dir = mkdtempSync(join(tmpdir(), 'mqttwire-browser-bench-'));
const mqttPort = await freePort();
writeFileSync(join(dir, 'm.conf'), `listener ${mqttPort} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 0\nset_tcp_nodelay true\npersistence false\n`);
children.push(spawn('/usr/sbin/mosquitto', ['-c', join(dir, 'm.conf')], { stdio: 'ignore' }));
await waitPort(mqttPort);
const bridgePort = await freePort();
children.push(spawn(join(root, 'target/release/mqttwire-bridge'), ['--listen', `127.0.0.1:${bridgePort}`, '--broker', `mqtt://127.0.0.1:${mqttPort}`, '--origin', '*'], { stdio: 'ignore', env: { ...process.env, RUST_LOG: 'warn' } }));
await waitPort(bridgePort);
const wsUrl = `ws://127.0.0.1:${bridgePort}/mqtt`;

// The page: one client at a time, either library, driven by the functions below.
const page = `<!doctype html><script type="module">
import mqttjs from '/mqttjs/mqtt.esm.js';
import { connectAsync, memoryBytes } from '/mqttwire/index.js';
import { connectSharedAsync } from '/mqttwire/shared.js';
const connect = (kind, url, extra = {}) => kind === 'mqttwire'
  ? connectAsync(url, { keepalive: 60, ...extra })
  : kind === 'MQTT.js' ? mqttjs.connectAsync(url, { keepalive: 60, reconnectPeriod: 0 })
  // A client id of its own: clients with the same options share one connection.
  : connectSharedAsync(url, { keepalive: 60, clientId: 'bench-shared-' + Math.random().toString(16).slice(2) });
let state = null;
window.subscribe = async (kind, url, topic, n, qos) => {
  const client = await connect(kind, url);
  state = { client, count: 0, bytes: 0, first: 0, last: 0, n };
  let resolve; state.done = new Promise((r) => { resolve = r; });
  client.on('message', (t, payload) => {
    const now = performance.now();
    if (state.count === 0) state.first = now;
    state.count++; state.bytes += payload.length; state.last = now;
    if (state.count === n) resolve();
  });
  await client.subscribeAsync(topic, { qos });
};
window.finish = async (ms) => {
  await Promise.race([state.done, new Promise((r) => setTimeout(r, ms))]);
  const { count, bytes, first, last } = state;
  return { count, bytes, ms: last - first };
};
// Forced: a client with messages still unacknowledged (a burst cut by the cap) would wait
// for them (MQTT.js) before it ends.
window.closeClient = async () => { await state.client.endAsync(true); state = null; };
// Publishes n messages with at most 'window' publishAsync promises unresolved, yielding to
// the event loop every 1,000; returns the epoch time of the first publish (ms).
window.flood = async (kind, url, topic, n, qos, size, window, capMs) => {
  const client = await connect(kind, url);
  state = { client };
  const payload = new Uint8Array(size).fill(0x61);
  const start = performance.timeOrigin + performance.now();
  const deadline = performance.now() + capMs;
  let sent = 0, done = 0, failed = null, wake = null;
  const settle = () => { done++; const w = wake; wake = null; w?.(); };
  const pause = () => new Promise((r) => { wake = r; setTimeout(r, 50); });
  while (sent < n && !failed && performance.now() < deadline) {
    if (sent - done >= window) { await pause(); continue; }
    client.publishAsync(topic, payload, { qos }).then(settle, (err) => { failed ??= String(err?.message ?? err); settle(); });
    sent++;
    if (sent % 1000 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  while (done < sent && performance.now() < deadline) await pause();
  return { start, sent, done, failed, publishMs: performance.timeOrigin + performance.now() - start };
};
// Publishes n messages from one loop, keeping every promise, then awaits them all (at most
// capMs); returns the epoch time of the first publish (ms).
window.burst = async (kind, url, topic, n, qos, size, _window, capMs, extra) => {
  const client = await connect(kind, url, kind === 'mqttwire' ? extra : undefined);
  state = { client };
  const payload = new Uint8Array(size).fill(0x61);
  const start = performance.timeOrigin + performance.now();
  let done = 0, failed = null;
  const all = [];
  for (let i = 0; i < n; i++) {
    all.push(client.publishAsync(topic, payload, { qos }).then(() => { done++; }, (err) => { failed ??= String(err?.message ?? err); done++; }));
  }
  const loopMs = performance.timeOrigin + performance.now() - start;
  await Promise.race([Promise.all(all), new Promise((r) => setTimeout(r, capMs))]);
  return { start, sent: n, done, failed, loopMs, publishMs: performance.timeOrigin + performance.now() - start };
};
// n sequential round trips through the broker: publish at QoS 0 on a subscribed topic, wait
// for the message (its first 4 bytes carry a sequence number), at most capMs in all.
window.rtt = async (kind, url, topic, n, size, capMs) => {
  const client = await connect(kind, url);
  state = { client };
  let seq = 0, arrived = null;
  client.on('message', (t, m) => {
    if (arrived && m.length >= 4 && new DataView(m.buffer, m.byteOffset, 4).getUint32(0) === seq) { const f = arrived; arrived = null; f(); }
  });
  await client.subscribeAsync(topic, { qos: 0 });
  const payload = new Uint8Array(size).fill(0x62);
  const samples = [];
  const deadline = performance.now() + capMs;
  let lost = 0;
  while (samples.length < n && performance.now() < deadline && lost < 3) {
    seq = (seq + 1) >>> 0;
    new DataView(payload.buffer).setUint32(0, seq);
    const t0 = performance.now();
    const ok = await new Promise((resolve) => {
      const timer = setTimeout(() => { arrived = null; resolve(false); }, 2000);
      arrived = () => { clearTimeout(timer); resolve(true); };
      client.publish(topic, payload, { qos: 0 });
    });
    if (ok) samples.push(performance.now() - t0); else lost++;
  }
  return { samples, lost };
};
// Bytes of wasm linear memory (mqttwire's engine state lives there, outside the JS heap).
window.wasmMemory = memoryBytes;
window.isolated = self.crossOriginIsolated;
window.ready = true;
</script>`;
const pkgDir = join(root, 'client-wasm/pkg/');
const mqttjsFile = join(root, 'bench/node_modules/mqtt/dist/mqtt.esm.js');
const server = createServer((req, res) => {
  try {
    let body; let type = 'text/javascript';
    if (req.url === '/') { body = page; type = 'text/html'; }
    else if (req.url === '/mqttjs/mqtt.esm.js') body = readFileSync(mqttjsFile);
    else if (req.url.startsWith('/mqttwire/')) {
      const file = normalize(join(pkgDir, req.url.slice(10)));
      if (!file.startsWith(pkgDir)) throw new Error('outside');
      body = readFileSync(file);
      if (extname(file) === '.wasm') type = 'application/wasm';
    } else throw new Error('not found');
    // Cross-origin isolation: performance.now() at 5 µs instead of 100 µs resolution.
    res.writeHead(200, { 'content-type': type, 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' });
    res.end(body);
  } catch { res.writeHead(404); res.end(); }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, '--disable-quic'] });
const chromiumVersion = browser.version();
const tab = await browser.newPage();
const pageErrors = [];
tab.on('pageerror', (e) => pageErrors.push(String(e)));
await tab.goto(`http://127.0.0.1:${server.address().port}/`);
await tab.waitForFunction(() => window.ready === true);
const isolated = await tab.evaluate(() => window.isolated);
const cdp = await tab.context().newCDPSession(tab);
await cdp.send('Performance.enable');
const browserCdp = await browser.newBrowserCDPSession();

/** CPU seconds used so far by every renderer process (one page: one renderer). */
async function rendererCpu() {
  const { processInfo } = await browserCdp.send('SystemInfo.getProcessInfo');
  return processInfo.filter((p) => p.type === 'renderer').reduce((a, p) => a + p.cpuTime, 0);
}
async function jsHeap() {
  const { metrics } = await cdp.send('Performance.getMetrics');
  return metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? null;
}
/** JS heap now, after a full GC, and wasm memory (mqttwire), in bytes. */
async function heapNow(kind) {
  const before = await jsHeap();
  await cdp.send('HeapProfiler.collectGarbage');
  const after = await jsHeap();
  const wasm = kind === 'mqttwire' ? await tab.evaluate(() => window.wasmMemory()) : null;
  return { heap: before, heapAfterGc: after, wasm };
}
const withCap = (p, ms, what) => { let t; return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`${what}: no answer within ${ms / 1000} s`)), ms); })]).finally(() => clearTimeout(t)); };

const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { keepalive: 60 });
publisher.stream.setNoDelay?.(true);
const subscriber = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { keepalive: 60 });

/** Browser subscriber, node publisher over TCP. */
async function receive(kind, c, run) {
  const topic = `bench/recv/${kind}/${run}/${c.qos}`;
  await tab.evaluate(([k, u, t, n, q]) => window.subscribe(k, u, t, n, q), [kind, wsUrl, topic, c.n, c.qos]);
  const cpu0 = await rendererCpu();
  const payload = Buffer.alloc(c.size, 7);
  // As fast as the publisher goes (QoS 1 acknowledgments are not awaited one by one),
  // yielding now and then so its socket drains.
  for (let i = 0; i < c.n; i++) {
    publisher.publish(topic, payload, { qos: c.qos });
    if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
  }
  const r = await withCap(tab.evaluate((ms) => window.finish(ms), CAP_MS), CAP_MS + 10_000, 'receive');
  const cpu = await rendererCpu() - cpu0;
  const mem = await heapNow(kind);
  await tab.evaluate(() => window.closeClient());
  const rate = r.count > 1 ? (r.count - 1) / (r.ms / 1000) : 0;
  return { rate, count: r.count, n: c.n, ok: r.count === c.n, cpuUsPerMsg: r.count ? (cpu * 1e6) / r.count : null, ...mem };
}

/** Browser publisher (`window.flood`, or `window.burst` with `how` 'burst'), node MQTT.js
 * subscriber over TCP counting. */
async function publish(kind, c, run, how = 'flood') {
  const topic = `bench/${how}/${kind}/${run}/${c.qos}`;
  let count = 0; let last = 0; let resolveAll;
  const all = new Promise((r) => { resolveAll = r; });
  const onMessage = (t) => { if (t !== topic) return; count++; last = performance.timeOrigin + performance.now(); if (count === c.n) resolveAll(); };
  subscriber.on('message', onMessage);
  try {
    await subscriber.subscribeAsync(topic, { qos: c.qos });
    const cpu0 = await rendererCpu();
    const p = await withCap(tab.evaluate(([how, ...a]) => window[how](...a), [how, kind, wsUrl, topic, c.n, c.qos, c.size, PUBLISH_WINDOW, CAP_MS, c.mqttwire ?? {}]), CAP_MS + 10_000, how);
    await Promise.race([all, new Promise((r) => setTimeout(r, 10_000))]);
    const cpu = await rendererCpu() - cpu0;
    const mem = await heapNow(kind);
    await withCap(tab.evaluate(() => window.closeClient()), 10_000, 'closing the client');
    await subscriber.unsubscribeAsync(topic);
    const rate = count && last > p.start ? count / ((last - p.start) / 1000) : 0;
    return { rate, count, n: c.n, ok: count === c.n && !p.failed, failed: p.failed, sent: p.sent, cpuUsPerMsg: count ? (cpu * 1e6) / count : null, ...mem };
  } finally {
    subscriber.removeListener('message', onMessage);
  }
}

async function roundTrips(kind, run) {
  const topic = `bench/rtt/${kind}/${run}`;
  const r = await withCap(tab.evaluate((a) => window.rtt(...a), [kind, wsUrl, topic, RTT.n, RTT.size, RTT.capMs]), RTT.capMs + 15_000, 'rtt');
  await tab.evaluate(() => window.closeClient());
  const s = Float64Array.from(r.samples).sort();
  const pct = (p) => (s.length ? s[Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length))) - 1] : null);
  return { count: s.length, lost: r.lost, ok: s.length === RTT.n, p50: pct(50), p99: pct(99) };
}

const samples = {};
const push = (key, v) => (samples[key] ??= []).push(v);
const t0 = Date.now();
const loadStart = machineInfo().loadavg;
try {
  for (let run = 0; run < runs; run++) {
    const order = run % 2 === 0 ? kinds : [...kinds].reverse();
    for (const c of receiveCases) {
      for (const kind of [...order, SHARED]) {
        const r = await receive(kind, c, run);
        push(`recv|${c.name}|${kind}`, r);
        log(`run ${run + 1} receive ${c.name} ${kind}: ${r.count}/${c.n}, ${Math.round(r.rate)} msgs/s, ${r.cpuUsPerMsg?.toFixed(1)} µs CPU/msg`);
      }
    }
    for (const c of publishCases) {
      for (const kind of order) {
        const r = await publish(kind, c, run);
        push(`pub|${c.name}|${kind}`, r);
        log(`run ${run + 1} publish ${c.name} ${kind}: ${r.count}/${c.n}, ${Math.round(r.rate)} msgs/s${r.failed ? `, failed: ${r.failed}` : ''}`);
      }
    }
    for (const c of burstCases) {
      for (const kind of order) {
        const r = await publish(kind, c, run, 'burst');
        push(`burst|${c.name}|${kind}`, r);
        log(`run ${run + 1} burst ${c.name} ${kind}: ${r.count}/${c.n}, ${Math.round(r.rate)} msgs/s${r.failed ? `, failed: ${r.failed}` : ''}`);
      }
    }
    for (const kind of order) {
      const r = await roundTrips(kind, run);
      push(`rtt|${kind}`, r);
      log(`run ${run + 1} rtt ${kind}: p50 ${r.p50?.toFixed(3)} ms, p99 ${r.p99?.toFixed(3)} ms (${r.count})`);
    }
  }
  if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join('; ')}`);
} finally {
  await publisher.endAsync().catch(() => {});
  await subscriber.endAsync().catch(() => {});
  await browser.close();
  server.close();
  cleanup();
  rmSync(dir, { recursive: true, force: true });
}

const fmt = (x) => (x == null ? '–' : Math.round(x).toLocaleString('en-US'));
const range = (s, f = fmt) => (s ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : '–');
const mib = (x) => (x == null ? '–' : (x / 2 ** 20).toFixed(1));
const ms3 = (x) => (x == null ? '–' : x.toFixed(3));
const summary = { receive: [], publish: [], burst: [], rtt: {}, memory: [] };
for (const [label, key, list] of [['receive', 'recv', receiveCases], ['publish', 'pub', publishCases], ['burst', 'burst', burstCases]]) {
  for (const c of list) {
    const row = { case: c.name, qos: c.qos, size: c.size, n: c.n };
    for (const kind of label === 'receive' ? receiveKinds : kinds) {
      const xs = samples[`${key}|${c.name}|${kind}`];
      row[kind] = {
        rate: stats(xs.map((s) => s.rate)),
        cpuUsPerMsg: stats(xs.map((s) => s.cpuUsPerMsg)),
        heapMiB: stats(xs.map((s) => s.heap / 2 ** 20)),
        heapAfterGcMiB: stats(xs.map((s) => s.heapAfterGc / 2 ** 20)),
        wasmMiB: kind === 'mqttwire' ? stats(xs.map((s) => s.wasm / 2 ** 20)) : null,
        allDelivered: xs.every((s) => s.ok),
        failures: xs.filter((s) => s.failed).map((s) => s.failed)
      };
    }
    row.ratio = row.mqttwire.rate.median / row['MQTT.js'].rate.median;
    if (row[SHARED]) row.sharedRatio = row[SHARED].rate.median / row['MQTT.js'].rate.median;
    summary[label].push(row);
  }
}
for (const kind of kinds) {
  const xs = samples[`rtt|${kind}`];
  summary.rtt[kind] = { p50: stats(xs.map((s) => s.p50)), p99: stats(xs.map((s) => s.p99)), count: stats(xs.map((s) => s.count)), complete: xs.every((s) => s.ok) };
}
const size = (files) => files.reduce((acc, f) => { const b = readFileSync(f); acc.raw += b.length; acc.gz += gzipSync(b, { level: 9 }).length; acc.br += brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length; return acc; }, { raw: 0, gz: 0, br: 0 });
const bundles = {
  mqttwire: size(['index.js', 'mqttwire_wasm_bg.wasm'].map((f) => join(pkgDir, f))),
  'MQTT.js': size([join(root, 'bench/node_modules/mqtt/dist/mqtt.min.js')])
};
const versions = {
  chromium: `Chromium ${chromiumVersion}`,
  mqtt: npmVersion('mqtt'),
  mqttwire: JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version,
  mosquitto: (spawnSync('/usr/sbin/mosquitto', ['-h'], { encoding: 'utf8' }).stdout || '').split('\n')[0].trim(),
  bridge: versionOf(join(root, 'target/release/mqttwire-bridge')),
  node: process.version
};
const rttRatio = summary.rtt.mqttwire.p50.median / summary.rtt['MQTT.js'].p50.median;
const targets = [
  ...summary.receive.map((r) => ({ target: `messages/s delivered, ${r.case}: ≥ 1.5x MQTT.js`, value: `${r.ratio.toFixed(2)}x`, met: r.ratio >= 1.5 })),
  ...summary.receive.map((r) => ({ target: `messages/s delivered through the shared worker (mqttwire/shared), ${r.case}: ≥ 1.5x MQTT.js`, value: `${r.sharedRatio.toFixed(2)}x`, met: r.sharedRatio >= 1.5 })),
  { target: 'round-trip latency p50 no worse than MQTT.js (ratio ≤ 1.00x)', value: `${rttRatio.toFixed(2)}x (${ms3(summary.rtt.mqttwire.p50.median)} vs ${ms3(summary.rtt['MQTT.js'].p50.median)} ms)`, met: rttRatio <= 1 },
  { target: 'round-trip latency p99 no worse than MQTT.js (ratio ≤ 1.00x)', value: `${(summary.rtt.mqttwire.p99.median / summary.rtt['MQTT.js'].p99.median).toFixed(2)}x`, met: summary.rtt.mqttwire.p99.median <= summary.rtt['MQTT.js'].p99.median },
  { target: 'package gzip ≤ 0.5x MQTT.js (dist/mqtt.min.js)', value: `${(bundles.mqttwire.gz / bundles['MQTT.js'].gz).toFixed(3)}x (${fmt(bundles.mqttwire.gz)} vs ${fmt(bundles['MQTT.js'].gz)} B)`, met: bundles.mqttwire.gz / bundles['MQTT.js'].gz <= 0.5 }
];

const L = [];
L.push(`# Browser client: mqttwire vs MQTT.js in headless Chromium${quick ? ' (QUICK: smoke test, numbers NOT comparable)' : ''}`, '');
L.push(`${new Date().toISOString()} · ${versions.chromium} (page cross-origin isolated: ${isolated}) · ${runs} runs, clients alternating · MQTT.js ${versions.mqtt}, mqttwire ${versions.mqttwire} · through ${versions.bridge} to ${versions.mosquitto} · load average ${loadStart.join(' / ')} at start · ${Math.round((Date.now() - t0) / 1000)} s`, '');
L.push('## Receiving: messages/s delivered to the `message` callback', '');
L.push('A node MQTT.js publisher over TCP publishes as fast as it can; the browser client counts, first to last message. CPU: the renderer process\'s CPU time per message delivered (DevTools SystemInfo). Heap: the page\'s JS heap used at the end of the run, before and after a full GC, client still connected; mqttwire also keeps its engine in wasm memory, which is outside the JS heap (last column). The shared-worker rows: the client of \`mqttwire/shared\`, whose engine runs in a SharedWorker that posts each task\'s messages to the page in one postMessage; CPU counts every renderer process, the worker\'s too; heap is the page\'s alone.', '');
const recvRows = (label, rows, rowKinds = kinds) => {
  L.push(`| case | client | ${label} msgs/s | ratio | CPU µs/msg | JS heap MiB | after GC MiB | wasm memory MiB | all delivered |`, '| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    for (const kind of rowKinds) {
      const k = r[kind];
      const ratio = kind === 'mqttwire' ? r.ratio : kind === SHARED ? r.sharedRatio : 1;
      L.push(`| ${r.case} | ${kind} | ${range(k.rate)} | ${ratio.toFixed(2)}x | ${range(k.cpuUsPerMsg, (x) => x.toFixed(1))} | ${range(k.heapMiB, (x) => x.toFixed(1))} | ${range(k.heapAfterGcMiB, (x) => x.toFixed(1))} | ${k.wasmMiB ? range(k.wasmMiB, (x) => x.toFixed(1)) : '–'} | ${k.allDelivered ? 'yes' : '**NO**'} |`);
    }
  }
};
recvRows('delivered', summary.receive, receiveKinds);
L.push('', '## Publishing: messages/s from the page to a node subscriber', '');
L.push(`The browser client publishes with \`publishAsync\`, at most ${PUBLISH_WINDOW.toLocaleString('en')} unresolved at a time (QoS 0 resolves when written, QoS 1 when acknowledged), yielding every 1,000; a node MQTT.js subscriber over TCP counts. Messages/s = delivered / (last delivery − first publish), wall clocks of the same machine. CPU and heap as above.`, '');
recvRows('published', summary.publish);
L.push('', '## A burst: one loop of publishes (issue 15)', '');
L.push(`The page calls \`publishAsync\` ${burstCases[0].n.toLocaleString('en')} times in one loop, awaiting nothing in between, then awaits every promise (what a bulk upload or a chat backlog replay does); a node MQTT.js subscriber over TCP counts. Messages/s as above. mqttwire keeps what the in-flight window (20 on MQTT 3.1.1) does not let out yet in its queue, bounded at 64 MiB by default (\`maxQueuedBytes\`); MQTT.js writes everything to the socket at once.`, '');
recvRows('published', summary.burst);
L.push('', '## Round-trip latency', '');
L.push(`The page publishes ${RTT.size} B at QoS 0 on a topic it subscribes to and waits for the message: up to ${RTT.n.toLocaleString('en')} sequential round trips per run (at most ${RTT.capMs / 1000} s), browser → bridge → mosquitto → bridge → browser. p50/p99 nearest-rank per run, median over runs (min–max).`, '');
L.push('| client | p50 ms | p99 ms | round trips per run |', '| --- | --- | --- | --- |');
for (const kind of kinds) { const r = summary.rtt[kind]; L.push(`| ${kind} | ${range(r.p50, ms3)} | ${range(r.p99, ms3)} | ${fmt(r.count.median)}${r.complete ? '' : ' ⚠ incomplete'} |`); }
L.push('', '## Package size', '');
L.push('| bundle | raw B | gzip -9 B | brotli 11 B |', '| --- | --- | --- | --- |');
L.push(`| mqttwire (index.js with the glue bundled, + wasm) | ${fmt(bundles.mqttwire.raw)} | ${fmt(bundles.mqttwire.gz)} | ${fmt(bundles.mqttwire.br)} |`);
L.push(`| MQTT.js dist/mqtt.min.js | ${fmt(bundles['MQTT.js'].raw)} | ${fmt(bundles['MQTT.js'].gz)} | ${fmt(bundles['MQTT.js'].br)} |`);
L.push(`| ratio | ${(bundles.mqttwire.raw / bundles['MQTT.js'].raw).toFixed(2)}x | ${(bundles.mqttwire.gz / bundles['MQTT.js'].gz).toFixed(3)}x | ${(bundles.mqttwire.br / bundles['MQTT.js'].br).toFixed(2)}x |`);
L.push('', '## Targets (issue 7)', '', '| target | measured (medians) | status |', '| --- | --- | --- |');
for (const t of targets) L.push(`| ${t.target} | ${t.value} | ${t.met ? 'met' : '**missed**'} |`);
const out = L.join('\n') + '\n';
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, `bench/results/${BASE}.md`), out);
writeFileSync(join(root, `bench/results/${BASE}.json`), JSON.stringify({ date: new Date().toISOString(), quick, runs, isolated, machine: machineInfo(), versions, summary, bundles, targets, samples, durationSeconds: (Date.now() - t0) / 1000 }, null, 2) + '\n');
console.log(out);
process.exit(0);
