// End-to-end tests of the www apps in real Chromium (Debian's, driven by playwright-core):
// the chat and the dashboard as built by Vite (www/dist), served by mqttwire-bridge in
// front of a real mosquitto that this script starts on free loopback ports. The bridge is
// killed and restarted mid-conversation. Screenshots go to tests/artifacts/.
//
//   node tests/e2e/run.mjs     (after `npm run build` in www/ and a build of the bridge)
//
// MQTTWIRE_BRIDGE_BIN and MQTTWIRE_FEED_BIN override the binaries (default: target/debug).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { children, freePort, listening, sleep, start, startMosquitto, stop } from '../js-support/servers.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dist = join(root, 'www/dist');
const artifacts = join(root, 'tests/artifacts');
const bridgeBin = process.env.MQTTWIRE_BRIDGE_BIN ?? join(root, 'target/debug/mqttwire-bridge');
const feedBin = process.env.MQTTWIRE_FEED_BIN ?? join(root, 'target/debug/examples/demo_feed');
const WAIT = 10_000;
mkdirSync(artifacts, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'mqttwire-e2e-'));

// ---- processes ---------------------------------------------------------------------------

/** Starts `command` with its output in `what`.log in the work directory. */
function startLogged(what, command, args) {
  const log = openSync(join(work, `${what}.log`), 'a');
  return start(command, args, { stdio: ['ignore', log, log] });
}

const mosquitto = await startMosquitto(work, ['max_queued_messages 1000']);
const mqttPort = mosquitto.port;

const bridgePort = await freePort();
const bridgeArgs = ['--listen', `127.0.0.1:${bridgePort}`, '--broker', `mqtt://127.0.0.1:${mqttPort}`, '--serve', dist, '--origin', `http://127.0.0.1:${bridgePort}`];
let bridge = null;
async function startBridge() {
  bridge = startLogged('bridge', bridgeBin, bridgeArgs);
  await listening('mqttwire-bridge', bridgePort, bridge, WAIT);
}
await startBridge();
const base = `http://127.0.0.1:${bridgePort}`;

function mosquittoPub(topic, message) {
  const r = spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-q', '1', '-t', topic, '-m', message],
    { timeout: WAIT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mosquitto_pub failed: ${r.stderr || r.error}`);
}

// ---- browser -----------------------------------------------------------------------------

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const pageErrors = [];

async function open(name, storageState, viewport = { width: 1100, height: 720 }) {
  const context = await browser.newContext({ storageState, viewport });
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(`${name}: ${error.message}`));
  // Chromium logs failed WebSocket connects (the bridge is down on purpose) and missing
  // favicons as console errors; anything else is a finding.
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/WebSocket connection to|Failed to load resource/.test(msg.text())) {
      pageErrors.push(`${name} console: ${msg.text()}`);
    }
  });
  await page.goto(`${base}/chat/`);
  return { name, context, page };
}

async function joinChat(user, nick) {
  await user.page.fill('#nick', nick);
  await user.page.press('#nick', 'Enter');
  await online(user);
}

const online = (user) => user.page.waitForSelector('#banner[data-state="online"]', { timeout: WAIT });

async function say(user, text) {
  await user.page.fill('#text', text);
  await user.page.press('#text', 'Enter');
}

/** Waits until exactly `count` messages with this text are shown, and stays there briefly. */
async function shown(user, text, count = 1) {
  await user.page.waitForFunction(([t, n]) =>
    [...document.querySelectorAll('#messages .text')].filter((e) => e.textContent === t).length >= n,
  [text, count], { timeout: WAIT });
  await sleep(300);
  const n = await user.page.$$eval('#messages .text', (els, t) => els.filter((e) => e.textContent === t).length, text);
  if (n !== count) throw new Error(`${user.name} shows "${text}" ${n} times, expected ${count}`);
}

async function stateOf(user, text) {
  return user.page.$$eval('#messages li.mine', (els, t) =>
    els.filter((e) => e.querySelector('.text').textContent === t).map((e) => e.dataset.state), text);
}

async function waitState(user, text, state) {
  await user.page.waitForFunction(([t, s]) => [...document.querySelectorAll('#messages li.mine')]
    .some((e) => e.querySelector('.text').textContent === t && e.dataset.state === s), [text, state], { timeout: WAIT })
    .catch(async () => { throw new Error(`"${text}" at ${user.name} is ${await stateOf(user, text)}, not ${state}`); });
}

const presenceOf = (user, nick) => user.page.$$eval('#people li', (els, n) =>
  els.filter((e) => e.querySelector('.label').textContent === n).map((e) => e.dataset.presence)[0] ?? null, nick);

async function waitPresence(user, nick, state) {
  await user.page.waitForFunction(([n, s]) => [...document.querySelectorAll('#people li')]
    .some((e) => e.querySelector('.label').textContent === n && e.dataset.presence === s), [nick, state], { timeout: WAIT })
    .catch(async () => { throw new Error(`${nick} is ${await presenceOf(user, nick)} at ${user.name}, not ${state}`); });
}

async function openRoom(user, room) {
  await user.page.click(`#rooms button[data-key="room:${room}"]`);
  await user.page.waitForFunction((r) => document.getElementById('title').textContent === `# ${r}`, room, { timeout: WAIT });
}

const unread = (user, key) => user.page.$eval(`[data-key="${key}"]`, (b) => Number(b.querySelector('.badge')?.textContent ?? 0));

// ---- the tests ---------------------------------------------------------------------------

let passed = 0;
let failed = 0;
async function test(name, body) {
  const started = Date.now();
  try {
    await body();
    passed += 1;
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    failed += 1;
    console.log(`FAIL ${name}: ${error.message}`);
    throw error;
  }
}

let alice;
let bob;
const hostileNick = '<img src=x onerror=__pwned=1>'; // fits the 32-character limit
const hostileText = '<b>bold?</b><script>window.__pwned=2</script><img src=x onerror="window.__pwned=3">';
try {
  await test('the bridge serves the built app: wasm as application/wasm, precompressed, cached', async () => {
    const wasm = readdirSync(join(dist, 'assets')).find((f) => f.endsWith('.wasm'));
    const res = await fetch(`${base}/assets/${wasm}`, { headers: { 'accept-encoding': 'br' } });
    const body = Buffer.from(await res.arrayBuffer());
    const headers = Object.fromEntries(['content-type', 'content-encoding', 'cache-control'].map((h) => [h, res.headers.get(h)]));
    if (res.status !== 200 || headers['content-type'] !== 'application/wasm' || headers['content-encoding'] !== 'br'
      || !headers['cache-control'] || !body.subarray(0, 4).equals(Buffer.from([0, 0x61, 0x73, 0x6d]))) {
      throw new Error(`${res.status} ${JSON.stringify(headers)}`);
    }
  });

  await test('two users join the general room and chat both ways', async () => {
    alice = await open('alice');
    bob = await open('bob');
    await joinChat(alice, 'alice');
    await joinChat(bob, 'bob');
    await say(alice, 'hello bob');
    await shown(bob, 'hello bob');
    await say(bob, 'hi alice');
    await shown(alice, 'hi alice');
    // No echo: the sender shows its own message once (no local), not twice.
    await shown(alice, 'hello bob');
    await shown(bob, 'hi alice');
  });

  await test('presence: each sees the other online', async () => {
    await waitPresence(alice, 'bob', 'online');
    await waitPresence(bob, 'alice', 'online');
  });

  await test('direct messages between two users, counted unread until opened', async () => {
    await alice.page.click('#people li:has(.label:text-is("bob")) button');
    await alice.page.waitForFunction(() => document.getElementById('title').textContent === 'bob', null, { timeout: WAIT });
    await say(alice, 'psst, just to you');
    await bob.page.waitForSelector('#people li:has(.label:text-is("alice")) .badge:text-is("1")', { timeout: WAIT });
    await waitState(alice, 'psst, just to you', 'delivered');
    await bob.page.click('#people li:has(.label:text-is("alice")) button');
    await shown(bob, 'psst, just to you');
    await waitState(alice, 'psst, just to you', 'read');
    await bob.page.fill('#text', 'got it');
    await bob.page.press('#text', 'Enter');
    await shown(alice, 'got it');
    await openRoom(alice, 'general');
    await openRoom(bob, 'general');
    const count = await alice.page.$$eval('#messages .text', (els) => els.filter((e) => e.textContent === 'got it').length);
    if (count !== 0) throw new Error('a direct message shows in the room');
  });

  await test('a message from mosquitto_pub appears in the UI', async () => {
    mosquittoPub('chat/rooms/general', 'straight from mosquitto_pub');
    await shown(alice, 'straight from mosquitto_pub');
    await shown(bob, 'straight from mosquitto_pub');
  });

  await test('typing shows and expires', async () => {
    await bob.page.fill('#text', '');
    await bob.page.type('#text', 'typing some', { delay: 20 });
    await alice.page.waitForSelector('#typing[data-typing="true"]', { timeout: WAIT });
    const line = await alice.page.textContent('#typing');
    if (line !== 'bob is typing…') throw new Error(`typing line is "${line}"`);
    await alice.page.waitForSelector('#typing[data-typing="false"]', { timeout: WAIT });
    await bob.page.fill('#text', '');
  });

  await test('delivery and read states advance; unread counts per room', async () => {
    // Bob looks at another room: Alice's message is delivered, not read, and counted unread.
    await bob.page.fill('#room-name', 'side');
    await bob.page.press('#room-name', 'Enter');
    await bob.page.waitForFunction(() => document.getElementById('title').textContent === '# side', null, { timeout: WAIT });
    await say(alice, 'are you there?');
    await waitState(alice, 'are you there?', 'delivered');
    await sleep(300);
    const early = await stateOf(alice, 'are you there?');
    if (early[0] !== 'delivered') throw new Error(`state before reading is ${early}`);
    await bob.page.waitForFunction(() => document.querySelector('[data-key="room:general"] .badge')?.textContent === '1',
      null, { timeout: WAIT });
    await openRoom(bob, 'general');
    await waitState(alice, 'are you there?', 'read');
    if (await unread(bob, 'room:general') !== 0) throw new Error('unread count not cleared');
    await alice.page.screenshot({ path: join(artifacts, 'chat-alice.png') });
  });

  await test('hostile nickname and text render as text', async () => {
    const mallory = await open('mallory');
    await joinChat(mallory, hostileNick);
    await say(mallory, hostileText);
    await shown(alice, hostileText);
    await waitPresence(alice, hostileNick, 'online');
    const injected = await alice.page.evaluate(() => ({
      pwned: window.__pwned ?? null,
      elements: document.querySelectorAll('#messages b, #messages img, #messages script, #people img').length,
    }));
    if (injected.pwned !== null || injected.elements !== 0) throw new Error(`markup injected: ${JSON.stringify(injected)}`);
    await mallory.context.close();
  });

  await test('the bridge is killed and restarted mid-conversation: nothing lost, nothing doubled', async () => {
    await stop(bridge, 'SIGKILL');
    await alice.page.waitForSelector('#banner[data-state="reconnecting"]', { timeout: WAIT });
    await bob.page.waitForSelector('#banner[data-state="reconnecting"]', { timeout: WAIT });
    const banner = await alice.page.textContent('#banner');
    if (!/Reconnecting in \d+ s/.test(banner)) throw new Error(`banner says "${banner}"`);
    const typed = ['while down 1', 'while down 2', 'while down 3'];
    for (const text of typed) await say(alice, text);
    for (const text of typed) {
      const [state] = await stateOf(alice, text);
      if (state !== 'sending') throw new Error(`"${text}" is ${state} while the bridge is down`);
    }
    await alice.page.screenshot({ path: join(artifacts, 'chat-reconnecting.png') });
    await startBridge();
    await online(alice);
    await online(bob);
    for (const text of typed) await shown(bob, text, 1);
    for (const text of typed) await waitState(alice, text, 'read');
    await say(bob, 'back again');
    await shown(alice, 'back again', 1);
    await waitPresence(alice, 'bob', 'online');
  });

  let bobState;
  await test('presence flips to offline when a tab dies', async () => {
    bobState = await bob.context.storageState();
    await bob.context.close();
    await waitPresence(alice, 'bob', 'offline');
  });

  await test('a returning user gets the messages sent while away', async () => {
    const away = ['sent while bob was away 1', 'sent while bob was away 2'];
    for (const text of away) await say(alice, text);
    for (const text of away) await waitState(alice, text, 'sent');
    bob = await open('bob again', bobState);
    await online(bob);
    for (const text of away) await shown(bob, text, 1);
    await shown(bob, 'hello bob', 1); // history kept in the browser
    await waitPresence(alice, 'bob', 'online');
    for (const text of away) await waitState(alice, text, 'read');
    await bob.page.screenshot({ path: join(artifacts, 'chat-bob.png') });
  });

  await test('phone-sized screen: the conversation list folds away', async () => {
    const phone = await open('phone', undefined, { width: 390, height: 780 });
    await joinChat(phone, 'phone');
    const listsVisible = await phone.page.isVisible('#rooms');
    if (listsVisible) throw new Error('the room list takes the phone screen');
    await phone.page.click('#menu');
    await phone.page.waitForSelector('#rooms', { state: 'visible', timeout: WAIT });
    await phone.page.click('#rooms button[data-key="room:general"]');
    await phone.page.waitForSelector('#rooms', { state: 'hidden', timeout: WAIT });
    await phone.page.screenshot({ path: join(artifacts, 'chat-phone.png') });
    // The banner follows the browser's network state.
    await phone.page.evaluate(() => {
      window.__banner = [];
      new MutationObserver(() => window.__banner.push(document.getElementById('banner').textContent))
        .observe(document.getElementById('banner'), { childList: true, characterData: true, subtree: true });
    });
    await phone.context.setOffline(true);
    await phone.page.waitForSelector('#banner[data-state="offline"]', { timeout: WAIT })
      .catch(async (e) => { throw new Error(`${e.message}; banner: ${await phone.page.evaluate(() => window.__banner.join(' | '))}`); });
    await phone.context.setOffline(false);
    await online(phone)
      .catch(async (e) => { throw new Error(`${e.message}; banner: ${await phone.page.evaluate(() => window.__banner.join(' | '))}`); });
    await phone.context.close();
  });

  await test('two tabs of one browser are one user on one shared connection', async () => {
    const one = await open('tab one');
    await joinChat(one, 'tab one');
    const page = await one.context.newPage();
    page.on('pageerror', (error) => pageErrors.push(`tab two: ${error.message}`));
    await page.goto(`${base}/chat/`);
    const two = { name: 'tab two', context: one.context, page };
    await online(two);
    if (await page.isVisible('#nick')) throw new Error('the second tab was asked for a nickname');
    const me = await page.textContent('#me');
    if (me !== 'tab one') throw new Error(`the second tab is "${me}", not the first tab's user`);
    // What one tab sends, the other shows (once), and the other way round.
    await say(two, 'hello from the other tab');
    await shown(one, 'hello from the other tab');
    await shown(two, 'hello from the other tab');
    await say(one, 'and back from tab one');
    await shown(two, 'and back from tab one');
    await waitPresence(alice, 'tab one', 'online');
    // One tab closing leaves the user online in the other; the last one takes it offline.
    await page.close();
    await say(one, 'after tab two closed');
    await one.page.waitForFunction((t) => [...document.querySelectorAll('#messages li.mine')]
      .some((e) => e.querySelector('.text').textContent === t && ['sent', 'delivered', 'read'].includes(e.dataset.state)),
    'after tab two closed', { timeout: WAIT });
    await waitPresence(alice, 'tab one', 'online');
    await one.context.close();
    await waitPresence(alice, 'tab one', 'offline');
  });

  await test('the dashboard draws points as data is published', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(`dashboard: ${error.message}`));
    await page.goto(`${base}/dashboard/`);
    await page.waitForSelector('#banner[data-state="online"]', { timeout: WAIT });
    mosquittoPub('metrics/probe/cpu', '12.5');
    mosquittoPub('alerts/critical', JSON.stringify({ level: 'critical', message: '<b>disk</b> full' }));
    await page.waitForSelector('figure[data-metric="cpu"] canvas', { timeout: WAIT });
    const feed = startLogged('feed', feedBin, ['--url', `ws://127.0.0.1:${bridgePort}/mqtt`, '--interval', '100ms', '--count', '40']);
    await page.waitForFunction(() => ['cpu', 'memory', 'requests', 'latency'].every((m) =>
      Number(document.querySelector(`figure[data-metric="${m}"]`)?.dataset.points ?? 0) >= 60), null, { timeout: 20_000 });
    const alert = await page.$$eval('#alerts li span', (els) => els.map((e) => e.textContent));
    if (!alert.includes('<b>disk</b> full')) throw new Error(`alerts: ${JSON.stringify(alert)}`);
    await new Promise((resolve) => (feed.exitCode !== null ? resolve() : feed.once('exit', resolve)));
    if (feed.exitCode !== 0) throw new Error(`demo_feed exited with ${feed.exitCode}`);
    await sleep(200);
    await page.screenshot({ path: join(artifacts, 'dashboard.png') });
    await context.close();
  });

  if (pageErrors.length) {
    failed += 1;
    console.log(`FAIL errors in the pages:\n  ${pageErrors.join('\n  ')}`);
  }
} catch {
  // Reported by test(); the processes' logs are shown below.
} finally {
  await browser.close().catch(() => {});
  for (const child of [...children]) await stop(child);
  if (failed > 0) {
    const logs = {
      bridge: () => readFileSync(join(work, 'bridge.log'), 'utf8'),
      mosquitto: () => mosquitto.log(),
      feed: () => readFileSync(join(work, 'feed.log'), 'utf8'),
    };
    for (const [what, log] of Object.entries(logs)) {
      try { console.log(`--- ${what} log (tail)\n${log().split('\n').slice(-30).join('\n')}`); } catch { /* not started */ }
    }
  }
  rmSync(work, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed; screenshots in tests/artifacts/`);
process.exit(failed > 0 ? 1 : 0);
