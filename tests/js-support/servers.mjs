// What the JS tests start for themselves (client-wasm/tests/js/*.test.mjs, tests/e2e/run.mjs):
// child processes that are tracked until they exit, free loopback ports, a mosquitto with a
// config of its own, and a static server for the built npm package. Node built-ins only:
// each importer has its own node_modules, or none.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import net from 'node:net';
import { extname, join, normalize } from 'node:path';

/** Where Debian installs mosquitto; the `MOSQUITTO` environment variable overrides it. */
export const MOSQUITTO = process.env.MOSQUITTO ?? '/usr/sbin/mosquitto';

/** Every process started with `start` that has not exited yet. */
export const children = new Set();

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` every 50 ms until it returns a truthy value; throws after `ms`. */
export async function until(what, ms, probe) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Rejects if `promise` does not settle within `ms`. */
export function within(what, ms, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Spawns `command` (stdout and stderr piped unless `options.stdio` says otherwise) and
 * tracks it in `children`; `child.exited` resolves with its exit code or signal. */
export function start(command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  children.add(child);
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => { children.delete(child); resolve(code ?? signal); }));
  child.once('error', () => children.delete(child));
  return child;
}

/** Sends `signal` to a child from `start` and waits for it to exit; SIGKILL after 5 s. */
export async function stop(child, signal = 'SIGTERM') {
  if (!children.has(child)) return;
  child.kill(signal);
  try {
    await within('process exit', 5000, child.exited);
  } catch {
    child.kill('SIGKILL');
    await child.exited;
  }
}

/** A loopback port that was free a moment ago. */
export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether 127.0.0.1:`port` accepts a TCP connection within 200 ms. */
export function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(200, () => { socket.destroy(); resolve(false); });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** Waits until `child` (from `start`) accepts connections on `port`; throws if it exits. */
export async function listening(what, port, child, ms = 10_000) {
  await until(`${what} to listen on ${port}`, ms, async () => {
    if (!children.has(child)) throw new Error(`${what} exited with ${child.exitCode ?? child.signalCode}`);
    return accepts(port);
  });
}

/** mosquitto with a plain and a WebSocket listener on free loopback ports (the config
 * tests/src/mosquitto.rs writes), its config in `dir` with the `extra` lines added, logging
 * everything (or only the `logTypes` given: a test that sends 100,000 messages wants no log
 * line per packet); resolves once both listeners accept. `log()` is what it has logged so far. */
export async function startMosquitto(dir, extra = [], { logTypes = ['all'] } = {}) {
  const [port, wsPort] = [await freePort(), await freePort()];
  const config = join(dir, 'mosquitto.conf');
  await writeFile(config, [
    'allow_anonymous true', 'persistence false', 'log_dest stderr', ...logTypes.map((t) => `log_type ${t}`), 'set_tcp_nodelay true', ...extra,
    `listener ${port} 127.0.0.1`, 'protocol mqtt',
    `listener ${wsPort} 127.0.0.1`, 'protocol websockets', 'socket_domain ipv4', '',
  ].join('\n'));
  const child = start(MOSQUITTO, ['-c', config]);
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  child.stdout.resume();
  await until('mosquitto to listen', 10_000, async () => {
    if (!children.has(child)) throw new Error(`mosquitto exited:\n${log}`);
    return log.includes(' running') && (await accepts(port)) && (await accepts(wsPort));
  });
  return { child, port, wsPort, wsUrl: `ws://127.0.0.1:${wsPort}/mqtt`, log: () => log };
}

/** An HTTP server on a free loopback port: the built package in the directory `pkg` under
 * `/mqttwire/`, and for any other URL the HTML page `page(url)` gives as
 * `{ body, headers }`, or 404 when it gives nothing. Resolves with `{ server, url }`. */
export async function servePackage(pkg, page) {
  const root = normalize(pkg + '/');
  const types = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json' };
  const server = createServer(async (req, res) => {
    try {
      const html = page(req.url);
      if (html) {
        res.writeHead(200, { 'content-type': 'text/html', ...html.headers });
        return res.end(html.body);
      }
      if (!req.url.startsWith('/mqttwire/')) throw new Error('not found');
      const file = normalize(join(root, req.url.slice('/mqttwire/'.length)));
      if (!file.startsWith(root)) throw new Error('outside the package');
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

/** The mqttwire-bridge binary `bin` on 127.0.0.1:`port` in front of the broker `broker`
 * (an mqtt:// URL), for pages of `origin`, with its /metrics on 127.0.0.1:`metricsPort`;
 * resolves once its /healthz answers. */
export async function launchBridge(bin, { port, broker, origin, metricsPort }) {
  const child = start(bin, ['--listen', `127.0.0.1:${port}`, '--broker', broker, '--origin', origin,
    '--metrics-listen', `127.0.0.1:${metricsPort}`], {
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  await until('the bridge to listen', 10_000, async () => {
    if (!children.has(child)) throw new Error(`mqttwire-bridge exited:\n${log}`);
    return (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false));
  });
  return child;
}

/** A counter of the bridge's /metrics on `metricsPort`, summed over the lines matching
 * `labels`; 0 when no line does. */
export async function bridgeMetric(metricsPort, name, labels = []) {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`mqttwire_bridge_${name}`)) continue;
    if (!labels.every((l) => line.toLowerCase().includes(l))) continue;
    sum += Number(line.trim().split(/\s+/).pop());
  }
  return sum;
}

/** The flags Chromium runs with in the tests: as root, headless, nothing from the network. */
export const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** A temporary directory that is removed, and every child from `start` killed, when the
 * process exits. */
export async function workDir(prefix) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  process.on('exit', () => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });
  return dir;
}

/**
 * The named tests of a test file: `all` is every name, the command line may pick some.
 * `test(name, body)` runs one if picked and reports it; `check` throws `message` unless
 * `condition`; `finish()` prints the count and exits non-zero if one failed.
 */
export function testRunner(all) {
  const selected = process.argv.length > 2 ? process.argv.slice(2) : all;
  for (const name of selected) if (!all.includes(name)) throw new Error(`unknown test ${name}; tests: ${all.join(' ')}`);
  const results = [];
  return {
    async test(name, body) {
      if (!selected.includes(name)) return;
      const t0 = Date.now();
      try {
        await body();
        results.push(true);
        console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (error) {
        results.push(false);
        console.log(`FAIL ${name}: ${error.stack}`);
      }
    },
    check(condition, message) {
      if (!condition) throw new Error(message);
    },
    finish() {
      const failed = results.filter((ok) => !ok).length;
      console.log(`${results.length - failed} passed, ${failed} failed`);
      process.exit(failed ? 1 : 0);
    },
  };
}

/** Calls `line(text)` for every non-empty line `stream` writes (a child's stdout). */
export function onLines(stream, line) {
  let buffer = '';
  stream.on('data', (d) => {
    buffer += d;
    let i;
    while ((i = buffer.indexOf('\n')) >= 0) {
      const text = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      if (text) line(text);
    }
  });
}
