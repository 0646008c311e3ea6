// The entry point mqttwire/shared in Debian's Chromium (playwright-core): tabs of one origin
// share one connection through a SharedWorker. Against a mosquitto and the mqttwire-bridge
// binary this test starts itself on free loopback ports; the bridge's /metrics counts the
// WebSockets and the SUBSCRIBE and UNSUBSCRIBE packets that reach the broker:
//
//   tabs      5 tabs connect: one WebSocket at the bridge; messages reach every tab that
//             subscribed and no other; one SUBSCRIBE per filter however many tabs ask;
//             a tab's publish reaches the broker; a tab reloaded comes back to the same
//             connection (the worker survives it); closing the tabs of a filter one by one
//             unsubscribes it only when the last one closes (after a reconnect() from one
//             tab, which every tab hears); the connection ends after the
//             last tab, whose filters stay with the session.
//   fallback  without SharedWorker, and where a content security policy refuses workers:
//             the `sharing` event says so, and the tab has a working connection of its own.
//
//   node client-wasm/tests/js/shared.test.mjs [tabs|fallback]...
//
// after client-wasm/build.sh and `cargo build -p ws-bridge --bin mqttwire-bridge`.
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import {
  CHROMIUM_ARGS, bridgeMetric, freePort, launchBridge, servePackage, start, startMosquitto, stop, testRunner, until, within, workDir,
} from '../../../tests/js-support/servers.mjs';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const pkg = normalize((process.env.MQTTWIRE_PKG ?? join(root, 'client-wasm/pkg')) + '/');
const BRIDGE = process.env.MQTTWIRE_BRIDGE_BIN ?? join(root, 'target/debug/mqttwire-bridge');
const { test, check, finish } = testRunner(['tabs', 'fallback']);

const dir = await workDir('mqttwire-shared-');

// A tab: connects through mqttwire/shared (query `noshared` takes SharedWorker away first)
// and keeps what it receives in `window.got`.
const PAGE = `<!doctype html>
<script type="importmap">{ "imports": { "mqttwire/shared": "/mqttwire/shared.js" } }</script>
<script type="module">
  if (location.search.includes('noshared')) delete window.SharedWorker;
  const { connectShared } = await import('mqttwire/shared');
  const q = new URLSearchParams(location.search);
  window.got = [];
  window.events = [];
  window.client = connectShared(q.get('url'), { clientId: 'shared-test', protocolVersion: 5 });
  for (const e of ['connect', 'close', 'error', 'sharing']) client.on(e, (a) => events.push([e, e === 'error' ? a.code : a]));
  client.on('message', (topic, payload) => got.push(topic + ' ' + new TextDecoder().decode(payload)));
  window.ready = true;
</script>`;
const site = await servePackage(pkg, (url) => (!url.startsWith('/tab') ? null : {
  body: PAGE,
  headers: url.includes('noworkers') ? { 'content-security-policy': "worker-src 'none'" } : {},
}));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: CHROMIUM_ARGS,
});

const mosquitto = await startMosquitto(dir, [], { logTypes: ['error', 'warning', 'notice', 'information'] });
const metricsPort = await freePort();
const bridgePort = await freePort();
const bridge = await launchBridge(BRIDGE, {
  port: bridgePort, broker: `mqtt://127.0.0.1:${mosquitto.port}`, origin: new URL(site.url).origin, metricsPort,
});
const wsUrl = `ws://127.0.0.1:${bridgePort}/mqtt`;
const metric = (name, labels) => bridgeMetric(metricsPort, name, labels);
const upstream = (type) => metric('packets', ['upstream', `type="${type}"`]);

async function publish(topic, message) {
  const child = start('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mosquitto.port), '-q', '1', '-t', topic, '-m', message]);
  child.stdout.resume();
  child.stderr.resume();
  const code = await within('mosquitto_pub', 10_000, child.exited);
  if (code !== 0) throw new Error(`mosquitto_pub exited with ${code}`);
}

/** A tab of `context`, connected. */
async function openTab(context, query = '') {
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  await page.goto(`${site.url}tab?url=${encodeURIComponent(wsUrl)}${query}`);
  await page.waitForFunction(() => window.ready === true && client.connected, null, { timeout: 10_000 });
  return page;
}

const got = (page) => page.evaluate(() => window.got);

await test('tabs', async () => {
  const context = await browser.newContext();
  try {
    const connectionsBefore = await metric('connections_total');
    const tabs = [];
    for (let i = 0; i < 5; i++) tabs.push(await openTab(context));
    check((await metric('connections_open')) === 1, `5 tabs, one WebSocket: ${await metric('connections_open')} open`);
    for (const tab of tabs) {
      const sharing = await tab.evaluate(() => events.find(([e]) => e === 'sharing')?.[1]);
      check(sharing?.shared === true, `the sharing event says shared: ${JSON.stringify(sharing)}`);
    }
    // Tabs 0-3 subscribe to sh/a, tab 4 to sh/b: two SUBSCRIBEs reach the broker.
    const subscribesBefore = await upstream('subscribe');
    for (const tab of tabs.slice(0, 4)) {
      const granted = await tab.evaluate(() => client.subscribeAsync('sh/a', { qos: 1 }));
      check(granted[0]?.qos === 1, `granted ${JSON.stringify(granted)}`);
    }
    await tabs[4].evaluate(() => client.subscribeAsync('sh/b', { qos: 1 }));
    check((await upstream('subscribe')) - subscribesBefore === 2, `one SUBSCRIBE per filter: ${(await upstream('subscribe')) - subscribesBefore}`);
    await publish('sh/a', 'one');
    await publish('sh/b', 'two');
    for (const [i, tab] of tabs.entries()) {
      const want = i < 4 ? ['sh/a one'] : ['sh/b two'];
      await until(`tab ${i} to get ${want}`, 5000, async () => (await got(tab)).length >= 1).catch(async (e) => {
        for (const t of tabs) console.log(JSON.stringify(await got(t)), JSON.stringify(await t.evaluate(() => events)), t.errors);
        throw e;
      });
      const have = await got(tab);
      check(JSON.stringify(have) === JSON.stringify(want), `tab ${i} got ${JSON.stringify(have)}, wants ${JSON.stringify(want)}`);
    }
    // A tab's publish goes out on the shared connection.
    const result = await tabs[2].evaluate(() => client.publishAsync('sh/a', 'from tab 2', { qos: 1 }));
    check(result.reasonCode === 0, `publish resolves: ${JSON.stringify(result)}`);
    await until('every sh/a tab to get it', 5000, async () => {
      for (const tab of tabs.slice(0, 4)) if (!(await got(tab)).includes('sh/a from tab 2')) return false;
      return true;
    });
    // Tab 4 reloads: the worker and its connection stay; the new page subscribes again.
    await tabs[4].reload();
    await tabs[4].waitForFunction(() => window.ready === true && client.connected, null, { timeout: 10_000 });
    check((await metric('connections_total')) - connectionsBefore === 1, 'the reloaded tab found the same connection');
    await tabs[4].evaluate(() => client.subscribeAsync('sh/b', { qos: 1 }));
    await publish('sh/b', 'three');
    await until('the reloaded tab to get sh/b', 5000, async () => (await got(tabs[4])).includes('sh/b three'));
    // getLastMessageId() and reconnect() from one tab act on the shared connection: every
    // tab hears the new connect, and the subscriptions hold across it.
    const lastId = await tabs[2].evaluate(async () => {
      await client.publishAsync('sh/a', 'with an id', { qos: 1 });
      return client.getLastMessageId();
    });
    check(Number.isInteger(lastId) && lastId > 0, `getLastMessageId after a QoS 1 publish: ${lastId}`);
    const totalBefore = await metric('connections_total');
    const heard = tabs[1].evaluate(() => new Promise((resolve) => client.once('connect', () => resolve(true))));
    await tabs[0].evaluate(() => { client.reconnect(); });
    check(await within('the other tab to hear the reconnect', 10_000, heard), 'reconnect from one tab');
    check((await metric('connections_total')) - totalBefore === 1, 'reconnect() opened one new WebSocket');
    // Closing the sh/a tabs one by one: the UNSUBSCRIBE comes with the last one.
    const unsubscribesBefore = await upstream('unsubscribe');
    for (const [i, tab] of tabs.slice(0, 4).entries()) {
      await tab.close();
      if (i < 3) {
        await publish('sh/a', `after ${i}`);
        await until(`tab 3 to get sh/a after ${i}`, 5000, async () => (await got(tabs[3])).includes(`sh/a after ${i}`));
        check((await upstream('unsubscribe')) === unsubscribesBefore, `no UNSUBSCRIBE while tabs still have sh/a (after closing tab ${i})`);
      }
    }
    await until('the UNSUBSCRIBE of sh/a after the last of its tabs', 5000, async () => (await upstream('unsubscribe')) - unsubscribesBefore === 1);
    check((await metric('connections_open')) === 1, 'tab 4 still holds the connection');
    check(tabs[4].errors.length === 0, `page errors: ${tabs[4].errors}`);
    await tabs[4].close();
    await until('the connection to end after the last tab', 10_000, async () => (await metric('connections_open')) === 0);
    // The last tab's filter stays with the session, as a one-tab client's would.
    check((await upstream('unsubscribe')) - unsubscribesBefore === 1, 'no UNSUBSCRIBE when the last tab closes');
  } finally {
    await context.close();
  }
});

await test('fallback', async () => {
  for (const [query, reason] of [['&noshared', /no SharedWorker/], ['&noworkers', /failed to start/]]) {
    const context = await browser.newContext();
    try {
      const openBefore = await metric('connections_open');
      const tab = await openTab(context, query);
      const sharing = await tab.evaluate(() => events.find(([e]) => e === 'sharing')?.[1]);
      check(sharing?.shared === false && reason.test(sharing.reason), `${query}: the sharing event says not shared: ${JSON.stringify(sharing)}`);
      check((await metric('connections_open')) - openBefore === 1, `${query}: a connection of its own`);
      await tab.evaluate(() => client.subscribeAsync('fb/t', { qos: 1 }));
      await tab.evaluate(() => client.publishAsync('fb/t', 'round trip', { qos: 1 }));
      await until(`${query}: the message back`, 5000, async () => (await got(tab)).includes('fb/t round trip'));
      await tab.evaluate(() => client.endAsync());
      check(tab.errors.length === 0, `${query}: page errors: ${tab.errors}`);
    } finally {
      await context.close();
    }
  }
});

await browser.close();
site.server.close();
await stop(bridge);
await stop(mosquitto.child);
finish();
