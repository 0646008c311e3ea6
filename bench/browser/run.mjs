// The browser client side by side with MQTT.js 5 in one headless Chromium, through the same
// mqttwire-bridge to the same mosquitto: messages per second delivered to the `message`
// callback (100,000 x 64 B at QoS 0; 20,000 x 1 KiB at QoS 1), and the package sizes.
// A node publisher (MQTT.js over TCP straight to mosquitto) feeds both.
//
//   node bench/browser/run.mjs [--runs 5] [--quick]
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync, mkdirSync } from 'node:fs';
import { createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, extname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import mqtt from 'mqtt';
import { chromium } from 'playwright-core';

const root = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const runs = Math.max(quick ? 1 : 5, Number(args[args.indexOf('--runs') + 1]) || 0);
const cases = quick
  ? [{ name: 'QoS 0, 64 B', qos: 0, size: 64, n: 20_000 }, { name: 'QoS 1, 1 KiB', qos: 1, size: 1024, n: 4_000 }]
  : [{ name: 'QoS 0, 64 B', qos: 0, size: 64, n: 100_000 }, { name: 'QoS 1, 1 KiB', qos: 1, size: 1024, n: 20_000 }];
const kinds = ['mqttwire', 'MQTT.js'];

const children = [];
const cleanup = () => { for (const c of children) { try { c.kill('SIGTERM'); } catch {} } };
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

const freePort = () => new Promise((resolve, reject) => {
  const s = netServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  s.on('error', reject);
});
async function waitPort(port, ms = 10_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const ok = await new Promise((r) => { const c = new (require_net())().connect(port, '127.0.0.1'); c.on('connect', () => { c.destroy(); r(true); }); c.on('error', () => r(false)); });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}
import * as net from 'node:net';
function require_net() { return net.Socket; }

if (!existsSync(join(root, 'client-wasm/pkg/index.js'))) execFileSync('bash', [join(root, 'client-wasm/build.sh')], { stdio: 'inherit' });
execFileSync('cargo', ['build', '-q', '--release', '-p', 'ws-bridge'], { cwd: root, stdio: 'inherit' });

const dir = mkdtempSync(join(tmpdir(), 'mqttwire-browser-bench-'));
const mqttPort = await freePort();
writeFileSync(join(dir, 'm.conf'), `listener ${mqttPort} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 0\nset_tcp_nodelay true\npersistence false\n`);
children.push(spawn('/usr/sbin/mosquitto', ['-c', join(dir, 'm.conf')], { stdio: 'ignore' }));
await waitPort(mqttPort);
const bridgePort = await freePort();
children.push(spawn(join(root, 'target/release/mqttwire-bridge'), ['--listen', `127.0.0.1:${bridgePort}`, '--broker', `mqtt://127.0.0.1:${mqttPort}`], { stdio: 'ignore', env: { ...process.env, RUST_LOG: 'warn' } }));
await waitPort(bridgePort);
const wsUrl = `ws://127.0.0.1:${bridgePort}/mqtt`;

const page = `<!doctype html><script type="module">
import mqttjs from '/mqttjs/mqtt.esm.js';
import { connectAsync } from '/mqttwire/index.js';
let state = null;
window.subscribe = async (kind, url, topic, n, qos) => {
  const client = kind === 'mqttwire' ? await connectAsync(url, { keepalive: 60 }) : await mqttjs.connectAsync(url, { keepalive: 60, reconnectPeriod: 0 });
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
  await state.client.endAsync();
  return { count, bytes, ms: last - first };
};
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
    res.writeHead(200, { 'content-type': type }); res.end(body);
  } catch { res.writeHead(404); res.end(); }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'] });
const tab = await browser.newPage();
await tab.goto(`http://127.0.0.1:${server.address().port}/`);
await tab.waitForFunction(() => window.ready === true);
const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { keepalive: 60 });

const samples = {};
try {
  for (let run = 0; run < runs; run++) {
    for (const c of cases) {
      const order = run % 2 === 0 ? kinds : [...kinds].reverse();
      for (const kind of order) {
        const topic = `bench/${kind}/${run}/${c.qos}`;
        await tab.evaluate(([k, u, t, n, q]) => window.subscribe(k, u, t, n, q), [kind, wsUrl, topic, c.n, c.qos]);
        const payload = Buffer.alloc(c.size, 7);
        // As fast as the publisher goes (QoS 1 acknowledgments are not awaited one by one),
        // yielding now and then so its socket drains.
        for (let i = 0; i < c.n; i++) {
          publisher.publish(topic, payload, { qos: c.qos });
          if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
        }
        const r = await tab.evaluate((ms) => window.finish(ms), 60_000);
        const rate = r.count > 1 ? (r.count - 1) / (r.ms / 1000) : 0;
        (samples[`${c.name}|${kind}`] ??= []).push({ rate, count: r.count, n: c.n });
        console.error(`run ${run + 1} ${c.name} ${kind}: ${r.count}/${c.n} messages, ${Math.round(rate)} msgs/s`);
      }
    }
  }
} finally {
  await publisher.endAsync().catch(() => {});
  await browser.close();
  server.close();
  cleanup();
  rmSync(dir, { recursive: true, force: true });
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const fmt = (x) => Math.round(x).toLocaleString('en-US');
const lines = [];
lines.push('# Browser client: mqttwire vs MQTT.js in headless Chromium', '');
lines.push(`${new Date().toISOString()} · Chromium ${browser.version?.() ?? ''} · ${runs} runs, clients alternating · through mqttwire-bridge to mosquitto 2.0.11; a node MQTT.js publisher over TCP`, '');
lines.push('| case | mqttwire msgs/s (min–max) | MQTT.js msgs/s (min–max) | ratio | target ≥ 1.5x | all delivered |', '| --- | --- | --- | --- | --- | --- |');
for (const c of cases) {
  const a = samples[`${c.name}|mqttwire`].map((s) => s.rate);
  const b = samples[`${c.name}|MQTT.js`].map((s) => s.rate);
  const all = [...samples[`${c.name}|mqttwire`], ...samples[`${c.name}|MQTT.js`]].every((s) => s.count === s.n);
  const ratio = median(a) / median(b);
  lines.push(`| ${c.name} | ${fmt(median(a))} (${fmt(Math.min(...a))}–${fmt(Math.max(...a))}) | ${fmt(median(b))} (${fmt(Math.min(...b))}–${fmt(Math.max(...b))}) | ${ratio.toFixed(2)}x | ${ratio >= 1.5 ? 'met' : '**missed**'} | ${all ? 'yes' : 'NO'} |`);
}
const size = (files) => files.reduce((acc, f) => { const b = readFileSync(f); acc.raw += b.length; acc.gz += gzipSync(b, { level: 9 }).length; acc.br += brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length; return acc; }, { raw: 0, gz: 0, br: 0 });
const ours = size(['index.js', 'mqttwire_wasm.js', 'mqttwire_wasm_bg.wasm'].map((f) => join(pkgDir, f)));
const theirs = size([join(root, 'bench/node_modules/mqtt/dist/mqtt.min.js')]);
lines.push('', '| bundle | raw | gzip | brotli |', '| --- | --- | --- | --- |');
lines.push(`| mqttwire (JS + wasm) | ${fmt(ours.raw)} | ${fmt(ours.gz)} | ${fmt(ours.br)} |`);
lines.push(`| MQTT.js dist/mqtt.min.js | ${fmt(theirs.raw)} | ${fmt(theirs.gz)} | ${fmt(theirs.br)} |`);
lines.push(`| ratio | ${(ours.raw / theirs.raw).toFixed(2)}x | ${(ours.gz / theirs.gz).toFixed(2)}x (target ≤ 0.5x) | ${(ours.br / theirs.br).toFixed(2)}x |`);
const out = lines.join('\n') + '\n';
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/browser.md'), out);
console.log(out);
process.exit(0);
