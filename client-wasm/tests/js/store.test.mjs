// The entry point mqttwire/store in Debian's Chromium (playwright-core): a client whose
// state is in IndexedDB loses nothing across page reloads. Against a mosquitto and the
// mqttwire-bridge binary this test starts itself on free loopback ports, with mosquitto_sub
// (QoS 2) as the observer:
//
//   offline   200 QoS 1 and 200 QoS 2 messages published while the bridge is down, the
//             page reloaded, the bridge started: every QoS 1 message arrives at least
//             once, every QoS 2 message exactly once, and the store empties.
//   reloads   a page publishing QoS 1 and 2 messages without pause is reloaded at random
//             moments, 12 times: every message the store held at a reload (read from
//             IndexedDB before the next page restores it) and every message whose
//             promise resolved arrives, and no QoS 2 message arrives twice.
//   inbound   QoS 2 messages from mosquitto_pub to a page reloaded at random moments, 10
//             times: each reaches the page's `message` listener at least once over all its
//             loads (counted in sessionStorage); how many came twice is printed. (Exactly
//             once holds while a page lives; a reload in the few ms between a delivery and
//             the save of its identifier gets the message again from the broker: the
//             store does not trade that for a loss.)
//   fallback  no IndexedDB, a database at a newer version, a store whose save fails with
//             a QuotaExceededError: an `error` event with code STORE_FAILED, and publishes
//             still complete from memory. The core entry point refuses `store`.
//
//   node client-wasm/tests/js/store.test.mjs [offline|reloads|fallback]...
//
// after client-wasm/build.sh and `cargo build -p ws-bridge --bin mqttwire-bridge`.
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import {
  CHROMIUM_ARGS, freePort, launchBridge, onLines, servePackage, sleep, start, startMosquitto, stop, testRunner, until, workDir,
} from '../../../tests/js-support/servers.mjs';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const pkg = normalize((process.env.MQTTWIRE_PKG ?? join(root, 'client-wasm/pkg')) + '/');
const BRIDGE = process.env.MQTTWIRE_BRIDGE_BIN ?? join(root, 'target/debug/mqttwire-bridge');
const { test, check, finish } = testRunner(['offline', 'reloads', 'inbound', 'fallback']);

const dir = await workDir('mqttwire-store-');

// The page: the client of mqttwire/store, and what the last page left in the store (read
// before anything restores it), as the payloads `q1-…;`/`q2-…;` its bytes hold (the `;`
// ends a payload where the next packet's first byte is a digit).
const PAGE = `<!doctype html>
<script type="importmap">{ "imports": {
  "mqttwire": "/mqttwire/index.js", "mqttwire/store": "/mqttwire/store.js" } }</script>
<script type="module">
  import * as store from 'mqttwire/store';
  import * as core from 'mqttwire';
  const q = new URLSearchParams(location.search);
  window.lib = { store, core };
  window.markers = (bytes) => bytes ? new TextDecoder('latin1').decode(bytes).match(/q[12]-[0-9]+-[0-9]+;/g) ?? [] : [];
  if (q.get('db')) window.saved = markers(await store.indexedDbStore(q.get('db')).load(q.get('id')).catch(() => undefined));
  window.ready = true;
</script>`;
const site = await servePackage(pkg, (url) => (url.startsWith('/page') ? { body: PAGE } : null));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: CHROMIUM_ARGS,
});

const mosquitto = await startMosquitto(dir, [], { logTypes: ['error', 'warning', 'notice', 'information', 'subscribe'] });
const bridgePort = await freePort();
const metricsPort = await freePort();
const bridgeOptions = { port: bridgePort, broker: `mqtt://127.0.0.1:${mosquitto.port}`, origin: new URL(site.url).origin, metricsPort };
const wsUrl = `ws://127.0.0.1:${bridgePort}/mqtt`;

/** mosquitto_sub at QoS 2 on `filter`: `counts` maps each payload to how often it came. */
async function observer(filter) {
  const id = `obs-${Math.random().toString(16).slice(2, 10)}`;
  const child = start('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(mosquitto.port), '-i', id, '-q', '2', '-t', filter]);
  const counts = new Map();
  onLines(child.stdout, (line) => counts.set(line, (counts.get(line) ?? 0) + 1));
  child.stderr.resume();
  await until('mosquitto_sub to subscribe', 10_000, () => mosquitto.log().includes(`${id} 2 ${filter}`));
  return { child, counts };
}

/** A new page of its own browser context (its own IndexedDB), loaded and ready. */
async function openPage(query) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.errors = errors;
  await page.goto(`${site.url}page?${query}`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 10_000 });
  return page;
}

/** In the page: connects the client of mqttwire/store with its state in database `db`. */
const CONNECT = ({ url, db, id }) => {
  window.client = lib.store.connect(url, {
    clientId: id, clean: false, reconnectPeriod: 100, store: lib.store.indexedDbStore(db),
  });
  window.storeErrors = [];
  client.on('error', (e) => storeErrors.push(e.code));
};

/** What the store of the page holds now, as payload markers. */
const stored = (page, db, id) => page.evaluate(async ({ db, id }) => markers(await lib.store.indexedDbStore(db).load(id)), { db, id });

/** Every payload of `expected` came at least once, the QoS 2 ones exactly once. */
function checkArrived(counts, expected, what) {
  const missing = [...expected].filter((p) => !counts.has(p));
  check(missing.length === 0, `${what}: ${missing.length} messages never arrived, e.g. ${missing.slice(0, 5)}`);
  const twice = [...counts].filter(([p, n]) => p.startsWith('q2-') && n > 1);
  check(twice.length === 0, `${what}: QoS 2 messages arrived more than once: ${twice.slice(0, 5).map(([p, n]) => `${p} x${n}`)}`);
}

await test('offline', async () => {
  const db = 'offline';
  const id = 'store-offline';
  const obs = await observer('store/offline/#');
  const page = await openPage(`db=${db}&id=${id}`);
  await page.evaluate(CONNECT, { url: wsUrl, db, id });
  const expected = new Set();
  for (let i = 0; i < 200; i++) {
    expected.add(`q1-0-${i};`);
    expected.add(`q2-0-${i};`);
  }
  // The bridge is down: every publish waits in the queue, and in the store.
  await page.evaluate(() => {
    for (let i = 0; i < 200; i++) {
      client.publish('store/offline/1', `q1-0-${i};`, { qos: 1 }, () => {});
      client.publish('store/offline/2', `q2-0-${i};`, { qos: 2 }, () => {});
    }
  });
  await until('the store to hold the 400 messages', 10_000, async () => (await stored(page, db, id)).length === 400);
  await page.reload();
  await page.waitForFunction(() => window.ready === true, null, { timeout: 10_000 });
  check((await page.evaluate(() => window.saved.length)) === 400, 'the reloaded page found the 400 messages in the store');
  await page.evaluate(CONNECT, { url: wsUrl, db, id });
  const bridge = await launchBridge(BRIDGE, bridgeOptions);
  try {
    await until('all 400 messages at the observer', 30_000, () => obs.counts.size === 400);
    await until('the store to empty', 10_000, async () => (await stored(page, db, id)).length === 0);
    await sleep(500); // a duplicate would come now
    checkArrived(obs.counts, expected, 'after the reload');
    check(page.errors.length === 0, `page errors: ${page.errors}`);
    check((await page.evaluate(() => storeErrors)).length === 0, 'no store error');
  } finally {
    await page.context().close();
    await stop(obs.child);
    await stop(bridge);
  }
});

await test('reloads', async () => {
  const db = 'reloads';
  const id = 'store-reloads';
  const obs = await observer('store/reloads/#');
  const bridge = await launchBridge(BRIDGE, bridgeOptions);
  const page = await openPage(`db=${db}&id=${id}`);
  // Each page load publishes a QoS 1 and a QoS 2 message every 2 ms under an epoch of its
  // own, and notes in sessionStorage (synchronous, kept across reloads) every message whose
  // promise resolved.
  const run = () => {
    const epoch = Number(sessionStorage.getItem('epoch') ?? 0) + 1;
    sessionStorage.setItem('epoch', String(epoch));
    window.stopped = false;
    let i = 0;
    const acked = (p) => () => sessionStorage.setItem(`acked ${p}`, '');
    const tick = () => {
      if (window.stopped) return;
      for (const qos of [1, 2]) {
        const p = `q${qos}-${epoch}-${i};`;
        client.publishAsync(`store/reloads/${qos}`, p, { qos }).then(acked(p), () => {});
      }
      i++;
      setTimeout(tick, 2);
    };
    client.once('connect', tick);
  };
  const durable = new Set();
  const reloads = 12;
  const random = ((seed) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31))(7);
  try {
    await page.evaluate(CONNECT, { url: wsUrl, db, id });
    await page.evaluate(run);
    for (let r = 0; r < reloads; r++) {
      await sleep(150 + random() * 600);
      await page.reload();
      await page.waitForFunction(() => window.ready === true, null, { timeout: 10_000 });
      for (const p of await page.evaluate(() => window.saved)) durable.add(p);
      await page.evaluate(CONNECT, { url: wsUrl, db, id });
      if (r < reloads - 1) await page.evaluate(run);
    }
    // The last page publishes nothing new: what the store held is sent, and it empties.
    await until('the store to empty', 20_000, async () => (await stored(page, db, id)).length === 0);
    const acked = await page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith('acked ')).map((k) => k.slice(6)));
    await sleep(1000);
    const expected = new Set([...durable, ...acked]);
    check(durable.size > 0, 'some messages were in the store at a reload');
    checkArrived(obs.counts, expected, `${reloads} reloads`);
    console.log(`     ${reloads} reloads: ${obs.counts.size} messages arrived; ${durable.size} were in the store at a reload, ${acked.length} acknowledged`);
    check(page.errors.length === 0, `page errors: ${page.errors}`);
  } finally {
    await page.context().close();
    await stop(obs.child);
    await stop(bridge);
  }
});

await test('inbound', async () => {
  const db = 'inbound';
  const id = 'store-inbound';
  const n = 1500;
  const bridge = await launchBridge(BRIDGE, bridgeOptions);
  const page = await openPage(`db=${db}&id=${id}`);
  // Each load counts what its listener gets in sessionStorage, which outlives the reload.
  const listen = () => {
    client.on('message', (topic, payload) => {
      const key = `got ${new TextDecoder().decode(payload)}`;
      sessionStorage.setItem(key, String(Number(sessionStorage.getItem(key) ?? 0) + 1));
    });
    client.once('connect', () => client.subscribe('store/inbound', { qos: 2 }));
  };
  const publisher = start('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mosquitto.port), '-q', '2', '-t', 'store/inbound', '-l'],
    { stdio: ['pipe', 'ignore', 'ignore'] });
  const random = ((seed) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31))(11);
  try {
    await page.evaluate(CONNECT, { url: wsUrl, db, id });
    await page.evaluate(listen);
    await page.waitForFunction(() => client.connected, null, { timeout: 10_000 });
    await sleep(300); // the SUBACK
    let sent = 0;
    const feeding = (async () => {
      while (sent < n) {
        publisher.stdin.write(`in-${sent};\n`);
        sent++;
        if (sent % 5 === 0) await sleep(4);
      }
    })();
    for (let r = 0; r < 10; r++) {
      await sleep(150 + random() * 450);
      await page.reload();
      await page.waitForFunction(() => window.ready === true, null, { timeout: 10_000 });
      await page.evaluate(CONNECT, { url: wsUrl, db, id });
      await page.evaluate(listen);
    }
    await feeding;
    const counts = async () => page.evaluate(() => Object.fromEntries(Object.keys(sessionStorage)
      .filter((k) => k.startsWith('got ')).map((k) => [k.slice(4), Number(sessionStorage.getItem(k))])));
    await until(`all ${n} messages at the page`, 30_000, async () => Object.keys(await counts()).length >= n)
      .catch(async (e) => { throw new Error(`${e.message}: ${Object.keys(await counts()).length} arrived`); });
    await sleep(1000);
    const got = await counts();
    for (let i = 0; i < n; i++) check(got[`in-${i};`] >= 1, `in-${i}; never reached the page`);
    const twice = Object.entries(got).filter(([, c]) => c > 1).length;
    console.log(`     10 reloads: ${n} QoS 2 messages all delivered; ${twice} of them twice (a reload between delivery and save)`);
    check(page.errors.length === 0, `page errors: ${page.errors}`);
  } finally {
    publisher.stdin.end();
    await stop(publisher);
    await page.context().close();
    await stop(bridge);
  }
});

await test('fallback', async () => {
  const bridge = await launchBridge(BRIDGE, bridgeOptions);
  const page = await openPage('');
  try {
    const outcome = await page.evaluate(async (url) => {
      const { store, core } = lib;
      // Connects with `options`, publishes one QoS 1 message, and says what happened.
      const attempt = async (options) => {
        const client = store.connect(url, { clientId: `fb-${Math.random()}`, clean: false, ...options });
        const errors = [];
        client.on('error', (e) => errors.push([e.code, e.cause?.name ?? null]));
        const result = await client.publishAsync('store/fallback', 'm', { qos: 1 }).then((r) => r.reasonCode, (e) => e.code);
        await client.endAsync();
        return { errors, result };
      };
      const quota = {
        saves: 0,
        load: async () => undefined,
        save() { this.saves++; return Promise.reject(new DOMException('the quota is exceeded', 'QuotaExceededError')); },
      };
      const newer = await new Promise((resolve, reject) => {
        const r = indexedDB.open('newer', 2);
        r.onsuccess = () => { r.result.close(); resolve(); };
        r.onerror = () => reject(r.error);
      });
      const versionError = await attempt({ store: store.indexedDbStore('newer') });
      const quotaError = await attempt({ store: quota });
      const saved = Object.getOwnPropertyDescriptor(window, 'indexedDB');
      Object.defineProperty(window, 'indexedDB', { value: undefined, configurable: true });
      const missing = await attempt({ store: store.indexedDbStore('missing') });
      if (saved) Object.defineProperty(window, 'indexedDB', saved); else delete window.indexedDB;
      let coreRefuses;
      try {
        await core.connectAsync(url, { clientId: 'c', store: quota });
      } catch (e) {
        coreRefuses = [e.code, e.message];
      }
      return { newer, versionError, quotaError, quotaSaves: quota.saves, missing, coreRefuses };
    }, wsUrl);
    const failed = (o, cause) => o.errors.length === 1 && o.errors[0][0] === 'STORE_FAILED' && (cause === undefined || o.errors[0][1] === cause) && o.result === 0;
    check(failed(outcome.versionError, 'VersionError'), `a newer database: ${JSON.stringify(outcome.versionError)}`);
    check(failed(outcome.quotaError, 'QuotaExceededError') && outcome.quotaSaves === 1, `a failing save: ${JSON.stringify(outcome)}`);
    check(failed(outcome.missing), `no IndexedDB: ${JSON.stringify(outcome.missing)}`);
    check(outcome.coreRefuses?.[0] === 'INVALID_OPTION' && outcome.coreRefuses[1].includes('mqttwire/store'), `the core refuses store: ${outcome.coreRefuses}`);
  } finally {
    await page.context().close();
    await stop(bridge);
  }
});

await browser.close();
site.server.close();
await stop(mosquitto.child);
finish();
