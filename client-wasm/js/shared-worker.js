// The SharedWorker behind mqttwire/shared: one client (the core, index.js) per broker URL
// and options, used by every tab of the origin that asks for the same. Each tab talks to it
// over a MessagePort (shared.js is the other end):
//
//   tab -> worker  { op: 'open', url, options, lock }, then { op, id, ... } commands
//                  (publish, subscribe, unsubscribe, reconnect, end)
//   worker -> tab  { re: id, ok | err } answers, { ev, arg } events, { msgs } messages;
//                  each with `state`, the client's { connected, reconnecting, queued }
//
// Subscriptions are counted across tabs: a filter goes to the broker when the first tab
// subscribes to it and is unsubscribed when the last one leaves it. A tab's end, its Web
// Lock being released (the tab closed or navigated away) or its `pagehide` releases its
// filters; a connection with no tab left ends after a moment (LINGER_MS), so that a
// reload finds it still there. Where there is no SharedWorker, shared.js runs `attach` in
// the tab itself, over a MessageChannel: the same code, one connection per tab.
import { connect } from './index.js';
import { topicMatches } from './util.js';

/** How long a connection outlives its last tab, in ms. */
const LINGER_MS = 3000;

/** The events of a client that every tab of its connection gets. */
const EVENTS = ['connect', 'reconnect', 'reconnecting', 'close', 'offline', 'disconnect', 'error', 'end', 'auth'];

/** Connections by key (URL and options): { client, tabs, subs, connack, linger }. */
const connections = new Map();

/** Serves the tab at the other end of `port`. */
export function attach(port) {
  let tab = null;
  port.onmessage = ({ data }) => {
    if (data.op === 'open') tab ??= open(port, data);
    else if (tab) command(tab, data);
  };
}

if (typeof SharedWorkerGlobalScope === 'function' && self instanceof SharedWorkerGlobalScope) {
  self.onconnect = (event) => attach(event.ports[0]);
}

/** The client's state, sent with everything so that the tab's getters follow it. */
const state = (client) => ({
  connected: client.connected, reconnecting: client.reconnecting, queued: client.queued, lastMessageId: client.getLastMessageId(),
});

/** An error as plain data: structured cloning keeps only an Error's name and message. */
const plain = (e) => ({ name: e?.name, message: e?.message ?? String(e), code: e?.code, reasonCode: e?.reasonCode });

function open(port, { url, options, lock }) {
  const key = JSON.stringify([url, options]);
  let conn = connections.get(key);
  if (!conn) {
    const client = connect(url, options);
    conn = { client, tabs: new Set(), subs: new Map(), connack: null, linger: 0 };
    connections.set(key, conn);
    for (const ev of EVENTS) {
      client.on(ev, (arg) => {
        if (ev === 'connect') conn.connack = arg;
        if (ev === 'end' && connections.get(key) === conn) connections.delete(key);
        const message = { ev, arg: ev === 'error' ? plain(arg) : arg, state: state(client) };
        for (const tab of conn.tabs) tab.port.postMessage(message);
      });
    }
    client.on('message', (topic, payload, packet) => route(conn, topic, payload, packet));
  }
  clearTimeout(conn.linger);
  const tab = { port, conn, filters: new Set(), batch: null, left: false };
  conn.tabs.add(tab);
  // The tab holds the lock while it lives (it asked first): granted here, the tab is gone.
  navigator.locks?.request(lock, () => leave(tab, false));
  const { client } = conn;
  port.postMessage(client.connected ? { ev: 'connect', arg: conn.connack, state: state(client) } : { state: state(client) });
  return tab;
}

async function command(tab, { op, id, topic, message, topics, options }) {
  const { client } = tab.conn;
  let answer;
  try {
    let ok;
    if (op === 'publish') ok = await client.publishAsync(topic, message, options);
    else if (op === 'subscribe') ok = await subscribe(tab, topics, options);
    else if (op === 'unsubscribe') ok = await release(tab, filterList(topics), options);
    // An `end` without an id is the tab's pagehide: it closes, as when its lock comes.
    else if (op === 'end') ok = await leave(tab, id !== undefined);
    else if (op === 'reconnect') client.reconnect();
    answer = { re: id, ok };
  } catch (error) {
    answer = { re: id, err: plain(error) };
  }
  answer.state = state(client);
  tab.port.postMessage(answer);
}

/** The filters of `topics` (a filter, a list, or an object of filter -> { qos }). */
function filterList(topics) {
  return typeof topics === 'string' ? [topics] : Array.isArray(topics) ? topics : Object.keys(topics ?? {});
}

/** Subscribes the tab: only filters no tab has yet go to the broker; resolves with the
 * grant of each filter asked for. */
async function subscribe(tab, topics, options) {
  const { conn } = tab;
  const qos = (f) => topics?.[f]?.qos ?? options?.qos ?? 0;
  const wanted = filterList(topics);
  const fresh = wanted.filter((f) => !conn.subs.has(f));
  if (fresh.length > 0) {
    const request = Object.fromEntries(fresh.map((f) => [f, { qos: qos(f) }]));
    const granting = conn.client.subscribeAsync(request, options);
    for (const f of fresh) {
      const grant = granting.then((grants) => grants.find((g) => g.topic === f));
      conn.subs.set(f, { tabs: new Set(), grant });
      // A refused or failed filter is forgotten, so that the next subscribe asks again.
      grant.then((g) => g.qos === 128 && forget(conn, f), () => forget(conn, f));
    }
  }
  const subs = wanted.map((f) => conn.subs.get(f));
  for (const [i, f] of wanted.entries()) {
    subs[i].tabs.add(tab);
    tab.filters.add(f);
  }
  try {
    return await Promise.all(subs.map((s) => s.grant));
  } catch (error) {
    for (const f of wanted) tab.filters.delete(f);
    throw error;
  }
}

function forget(conn, filter) {
  const sub = conn.subs.get(filter);
  if (!sub) return;
  conn.subs.delete(filter);
  for (const tab of sub.tabs) tab.filters.delete(filter);
}

/** Takes `filters` from the tab; those no other tab has go to the broker as one
 * UNSUBSCRIBE, whose reason codes it resolves with (none when nothing was sent), unless
 * `keep` says that the session keeps them. */
async function release(tab, filters, options, keep = false) {
  const { conn } = tab;
  const last = [];
  for (const f of filters) {
    if (!tab.filters.delete(f)) continue;
    const sub = conn.subs.get(f);
    sub.tabs.delete(tab);
    if (sub.tabs.size === 0 && !keep) {
      conn.subs.delete(f);
      last.push(f);
    }
  }
  return last.length > 0 ? conn.client.unsubscribeAsync(last, options) : [];
}

/**
 * The tab leaves, by `end` (`explicit`) or by closing: its filters are released, and a
 * connection without tabs ends soon. The last tab's filters stay subscribed: the session
 * keeps them, as it keeps those of a one-tab client that closes, so that a persistent
 * session gets what is published while no tab is open. When the last tab closed without
 * `end`, the connection ends as a lost one would for the broker: on MQTT 5.0 with reason
 * code 0x04, which publishes the will (a chat's "offline" presence, say).
 */
async function leave(tab, explicit) {
  if (tab.left) return;
  tab.left = true;
  const { conn } = tab;
  conn.tabs.delete(tab);
  const released = release(tab, [...tab.filters], undefined, conn.tabs.size === 0).catch(() => {});
  if (conn.tabs.size === 0) {
    const reasonCode = !explicit && conn.client.options.protocolVersion === 5 ? 0x04 : 0;
    conn.linger = setTimeout(() => {
      if (conn.tabs.size > 0) return;
      for (const [key, c] of connections) if (c === conn) connections.delete(key);
      conn.client.end(false, { reasonCode });
    }, LINGER_MS);
  }
  await released;
}

/**
 * Brings a message to every tab with a filter that matches it, batched per tab: one
 * postMessage per tab and task. A message no tab's filter matches goes to every tab: a
 * resumed session's messages arrive before its tabs have subscribed again, and their
 * `handle` routes (or `message` listeners) take them, as on a connection of their own.
 */
function route(conn, topic, payload, packet) {
  const tabs = [];
  for (const tab of conn.tabs) {
    for (const f of tab.filters) {
      if (topicMatches(f, topic)) {
        tabs.push(tab);
        break;
      }
    }
  }
  for (const tab of tabs.length > 0 ? tabs : conn.tabs) {
    if (tab.batch === null) {
      const batch = (tab.batch = new Batch());
      queueMicrotask(() => {
        tab.batch = null;
        tab.port.postMessage({ msgs: batch.parts() }, [batch.bytes.buffer]);
      });
    }
    tab.batch.add(topic, payload, packet);
  }
}

/**
 * The messages of one postMessage: their payloads copied end to end into one buffer,
 * which is transferred, not cloned (the payloads are views valid only during the `message`
 * event), and per message its topic, where its payload ends, its flags (QoS in bits 0-1,
 * retain 2, dup 3) and its properties. Cloning one object per message cost the tab twice
 * the CPU of the client itself.
 */
class Batch {
  constructor() {
    this.bytes = new Uint8Array(4096);
    this.used = 0;
    this.topics = [];
    this.ends = [];
    this.flags = [];
    this.properties = null;
  }

  add(topic, payload, packet) {
    const end = this.used + payload.length;
    if (end > this.bytes.length) {
      const grown = new Uint8Array(Math.max(end, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, this.used));
      this.bytes = grown;
    }
    this.bytes.set(payload, this.used);
    this.used = end;
    if (packet.properties !== undefined) (this.properties ??= [])[this.topics.length] = packet.properties;
    this.topics.push(topic);
    this.ends.push(end);
    this.flags.push(packet.qos | (packet.retain ? 4 : 0) | (packet.dup ? 8 : 0));
  }

  parts() {
    return { bytes: this.bytes, topics: this.topics, ends: this.ends, flags: this.flags, properties: this.properties };
  }
}
