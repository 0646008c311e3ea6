// mqttwire chat: rooms, direct messages, presence, typing and receipts, all on MQTT 5 through
// the bridge, written against the npm package exactly as a user would. The topics and the
// conversation keys are spelled in chat-topics.js; the client's router (`client.handle`)
// brings each filter's messages to its receiver below.
//
// The tabs of one browser share one user and one MQTT session: the client comes from
// mqttwire/shared, which runs it in a SharedWorker (where there is none, each tab is a user
// of its own, as the Web Locks below arrange).
//
// Everything a user wrote reaches the page through `textContent`, never as markup.
import { connectShared } from 'mqttwire/shared';
import {
  conversationTopics, dmKey, filters, parseKey, parseTopic, presenceTopic, receiptTopic, roomKey, roomListTopic,
} from './chat-topics.js';
import { brokerUrl, connectionBanner } from './common.js';

const IDENTITIES_KEY = 'mqttwire-chat-identities';
const HISTORY_PER_CONVERSATION = 200;
const TYPING_SHOWN_MS = 3000;
const TYPING_SENT_EVERY_MS = 1000;
const SESSION_EXPIRY_S = 24 * 60 * 60;
const STATE_RANK = { failed: -1, unsent: 0, sending: 1, sent: 2, delivered: 3, read: 4 };
const STATE_TEXT = {
  failed: 'not sent', unsent: 'not sent', sending: 'sending…', sent: 'sent ✓', delivered: 'delivered ✓✓', read: 'read ✓✓',
};

const $ = (id) => document.getElementById(id);
const decoder = new TextDecoder();

/**
 * Who this tab is. Identities (user id, nickname) live in localStorage, so a browser
 * keeps its users and their MQTT client ids (`chat-<id>`) and persistent sessions. With a
 * SharedWorker every tab is the first identity and shares its connection. Without one, a
 * tab holds a Web Lock on the identity it uses: a second tab of the same browser picks
 * another identity (or asks for a nickname) instead of taking the first one's session
 * over.
 * @type {{ id: string, nick: string }}
 */
let identity = null;
/** Conversations by key: `room:<name>` or `dm:<user id>`. */
const conversations = new Map();
/** Users seen, by id: { nick, online }. */
const people = new Map();
/** Who types where: conversation key -> Map(user id -> { nick, until }). */
const typing = new Map();
let active = roomKey('general');
let client = null;
let lastTypingSent = 0;

// ---- identity and history -------------------------------------------------------------

function storedIdentities() {
  try {
    const list = JSON.parse(localStorage.getItem(IDENTITIES_KEY) ?? '[]');
    return Array.isArray(list) ? list.filter((i) => str(i?.id, 64) && str(i?.nick, 32)) : [];
  } catch {
    return [];
  }
}

function saveIdentities(list) {
  localStorage.setItem(IDENTITIES_KEY, JSON.stringify(list));
}

/** Whether the tabs share one connection (mqttwire/shared has a SharedWorker here). */
const SHARED = typeof SharedWorker === 'function';

/** Holds the lock of identity `id` while the tab lives; false if another tab has it. */
function lockIdentity(id) {
  if (SHARED || !navigator.locks) return Promise.resolve(true);
  return new Promise((resolve) => {
    navigator.locks.request(`mqttwire-chat:${id}`, { ifAvailable: true }, (lock) => {
      resolve(lock !== null);
      return lock === null ? undefined : new Promise(() => {});
    });
  });
}

/** The first stored identity no other tab uses, or null. */
async function pickIdentity() {
  for (const candidate of storedIdentities()) {
    if (await lockIdentity(candidate.id)) return candidate;
  }
  return null;
}

function randomId(bytes) {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

const historyKey = () => `mqttwire-chat-history:${identity.id}`;
let saveTimer = null;

function loadHistory() {
  let stored;
  try { stored = JSON.parse(localStorage.getItem(historyKey()) ?? '{}'); } catch { stored = {}; }
  for (const [key, saved] of Object.entries(stored.conversations ?? {})) {
    if (!parseKey(key)) continue; // not a key this chat writes
    const conversation = conversationFor(key, saved.title);
    for (const message of saved.messages ?? []) {
      // A page closed while sending took its queue with it.
      if (message.state === 'sending') message.state = 'unsent';
      conversation.messages.set(message.id, message);
    }
    conversation.unread = saved.unread ?? 0;
  }
  for (const [id, person] of Object.entries(stored.people ?? {})) {
    people.set(id, { nick: person.nick, online: false });
  }
}

function saveHistorySoon() {
  if (saveTimer !== null) return;
  saveTimer = setTimeout(() => {
    saveTimer = null;
    const out = { conversations: {}, people: {} };
    for (const [key, c] of conversations) {
      out.conversations[key] = {
        title: c.title, unread: c.unread,
        messages: [...c.messages.values()].slice(-HISTORY_PER_CONVERSATION),
      };
    }
    for (const [id, p] of people) out.people[id] = { nick: p.nick };
    localStorage.setItem(historyKey(), JSON.stringify(out));
  }, 300);
}

// ---- model ---------------------------------------------------------------------------

function conversationFor(key, title) {
  let c = conversations.get(key);
  if (!c) {
    const k = parseKey(key);
    const fallback = k.kind === 'dm' ? people.get(k.user)?.nick ?? k.user : k.room;
    c = { key, title: title ?? fallback, messages: new Map(), unread: 0 };
    conversations.set(key, c);
  }
  return c;
}

function findOwnMessage(id) {
  for (const c of conversations.values()) {
    const m = c.messages.get(id);
    if (m && m.from === identity.id) return m;
  }
  return null;
}

function advance(message, state) {
  if ((STATE_RANK[state] ?? -2) > (STATE_RANK[message.state] ?? -2)) {
    message.state = state;
    return true;
  }
  return false;
}

const isVisible = () => document.visibilityState === 'visible';
const str = (v, max) => (typeof v === 'string' && v.length <= max ? v : null);

/** Parses a chat message; plain text (e.g. from `mosquitto_pub`) is shown as such. */
function parseMessage(payload) {
  const text = decoder.decode(payload);
  try {
    const m = JSON.parse(text);
    if (m && typeof m === 'object' && str(m.id, 64) && str(m.text, 4000) !== null) {
      return {
        id: m.id, from: str(m.from, 64), nick: str(m.nick, 32) ?? 'someone', text: m.text,
        ts: Number.isFinite(m.ts) ? m.ts : Date.now(),
      };
    }
  } catch { /* not JSON: plain text */ }
  return { id: `ext-${randomId(8)}`, from: null, nick: 'external', text: text.slice(0, 4000), ts: Date.now() };
}

function parseJson(payload) {
  try {
    const v = JSON.parse(decoder.decode(payload));
    return v && typeof v === 'object' ? v : null;
  } catch {
    return null;
  }
}

// ---- incoming ------------------------------------------------------------------------

/** What a message does, by the kind of its topic (the kinds of `filters`). */
const receivers = {
  room: ({ room }, payload) => receiveChat(roomKey(room), room, payload),
  roomList: ({ room }) => { conversationFor(roomKey(room)); renderLists(); },
  dm: (_, payload) => receiveChat(null, null, payload),
  receipt: (_, payload) => receiveReceipt(payload),
  presence: ({ user }, payload) => receivePresence(user, payload),
  roomTyping: ({ room }, payload) => receiveTyping(room, payload),
  dmTyping: (_, payload) => receiveTyping(null, payload),
};

/**
 * Hands the messages of each of my filters to the receiver of its kind, through the
 * client's router. A receiver's exception is rethrown as an uncaught error, as the
 * client's events do; the router would drop it without a word.
 */
function route() {
  for (const [kind, filter] of Object.entries(filters(identity.id))) {
    client.handle(filter, (topic, payload) => {
      const parsed = parseTopic(topic);
      if (parsed?.kind !== kind) return; // an empty room or user name
      try { receivers[kind](parsed, payload); } catch (error) { queueMicrotask(() => { throw error; }); }
    });
  }
}

function receiveChat(key, title, payload) {
  const message = parseMessage(payload);
  if (message.from === identity.id) {
    // Sent from another tab of mine (the shared connection hears its own messages).
    const conversation = key === null ? null : conversationFor(key, title);
    if (!conversation || conversation.messages.has(message.id)) return;
    conversation.messages.set(message.id, { ...message, state: 'sent' });
    saveHistorySoon();
    if (key === active) renderConversation();
    return;
  }
  if (key === null) {
    // A direct message: the conversation is the sender's.
    if (!message.from) return;
    key = dmKey(message.from);
    title = message.nick;
  }
  if (message.from) rememberPerson(message.from, message.nick);
  const conversation = conversationFor(key, title);
  if (conversation.messages.has(message.id)) return; // a QoS 1 duplicate
  conversation.messages.set(message.id, message);
  typing.get(key)?.delete(message.from);
  if (message.from) sendReceipt(message, 'delivered');
  if (key === active && isVisible()) markRead(conversation);
  else conversation.unread += 1;
  saveHistorySoon();
  renderLists();
  if (key === active) renderConversation();
}

function receiveReceipt(payload) {
  const receipt = parseJson(payload);
  if (!receipt || !str(receipt.id, 64)) return;
  const message = findOwnMessage(receipt.id);
  if (message && advance(message, receipt.state === 'read' ? 'read' : 'delivered')) {
    saveHistorySoon();
    renderConversation();
  }
}

function receivePresence(userId, payload) {
  if (userId === identity.id) return;
  const p = payload.length ? parseJson(payload) : null;
  const person = rememberPerson(userId, str(p?.nick, 32) ?? people.get(userId)?.nick ?? userId);
  person.online = p?.state === 'online';
  renderLists();
}

/** Someone types in `room`, or to me when `room` is null. */
function receiveTyping(room, payload) {
  const t = parseJson(payload);
  if (!t || !str(t.from, 64) || t.from === identity.id) return;
  const key = room === null ? dmKey(t.from) : roomKey(room);
  let typers = typing.get(key);
  if (!typers) typing.set(key, (typers = new Map()));
  typers.set(t.from, { nick: str(t.nick, 32) ?? 'someone', until: Date.now() + TYPING_SHOWN_MS });
  renderTyping();
  setTimeout(renderTyping, TYPING_SHOWN_MS + 50);
}

function rememberPerson(id, nick) {
  let person = people.get(id);
  if (!person) people.set(id, (person = { nick, online: false }));
  else if (nick) person.nick = nick;
  const dm = conversations.get(dmKey(id));
  if (dm && nick) dm.title = nick;
  return person;
}

// ---- outgoing ------------------------------------------------------------------------

function publish(topic, body, options) {
  return client.publishAsync(topic, JSON.stringify(body), options);
}

function sendReceipt(message, state) {
  if (!message.from || message.receipt === state || message.receipt === 'read') return;
  message.receipt = state;
  publish(receiptTopic(message.from), { id: message.id, by: identity.id, state }, { qos: 1 })
    .catch((error) => console.warn('receipt not sent', error));
}

function markRead(conversation) {
  conversation.unread = 0;
  for (const m of conversation.messages.values()) {
    if (m.from && m.from !== identity.id) sendReceipt(m, 'read');
  }
  saveHistorySoon();
}

function send(text) {
  const conversation = conversationFor(active);
  const message = { id: randomId(12), from: identity.id, nick: identity.nick, text, ts: Date.now(), state: 'sending' };
  conversation.messages.set(message.id, message);
  lastTypingSent = 0;
  const { id, from, nick, ts } = message;
  publish(conversationTopics(active).messages, { id, from, nick, text, ts }, { qos: 1 })
    .then(() => advance(message, 'sent'))
    .catch((error) => { message.state = 'failed'; message.error = error.message; })
    .finally(() => { saveHistorySoon(); renderConversation(); });
  saveHistorySoon();
  renderConversation();
}

function sendTyping() {
  const now = Date.now();
  if (!client?.connected || now - lastTypingSent < TYPING_SENT_EVERY_MS) return;
  lastTypingSent = now;
  publish(conversationTopics(active).typing, { from: identity.id, nick: identity.nick }, { qos: 0 }).catch(() => {});
}

function presence(state) {
  return publish(presenceTopic(identity.id), { id: identity.id, nick: identity.nick, state, ts: Date.now() },
    { qos: 1, retain: true });
}

// ---- rendering -----------------------------------------------------------------------

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function conversationItem(key, label, extra) {
  const c = conversations.get(key);
  const li = el('li');
  const button = el('button', key === active ? 'conversation-link active' : 'conversation-link');
  button.type = 'button';
  button.dataset.key = key;
  if (key === active) button.setAttribute('aria-current', 'true');
  if (extra) button.append(extra);
  button.append(el('span', 'label', label));
  const unread = c?.unread ?? 0;
  if (unread > 0) {
    const badge = el('span', 'badge', String(unread));
    badge.setAttribute('aria-label', `${unread} unread`);
    button.append(badge);
  }
  button.addEventListener('click', () => openConversation(key));
  li.append(button);
  return li;
}

function renderLists() {
  const rooms = [...conversations.keys()].map(parseKey).filter((k) => k.kind === 'room').map((k) => k.room).sort();
  $('rooms').replaceChildren(...rooms.map((room) => conversationItem(roomKey(room), `# ${room}`)));
  const others = [...people.entries()].filter(([id]) => id !== identity.id)
    .sort((a, b) => (b[1].online - a[1].online) || a[1].nick.localeCompare(b[1].nick));
  $('people').replaceChildren(...others.map(([id, p]) => {
    const dot = el('span', p.online ? 'presence online' : 'presence offline');
    dot.setAttribute('aria-label', p.online ? 'online' : 'offline');
    const li = conversationItem(dmKey(id), p.nick, dot);
    li.dataset.user = id;
    li.dataset.presence = p.online ? 'online' : 'offline';
    return li;
  }));
  const total = [...conversations.values()].reduce((n, c) => n + c.unread, 0);
  document.title = total > 0 ? `(${total}) mqttwire chat` : 'mqttwire chat';
}

function renderConversation() {
  const c = conversationFor(active);
  $('title').textContent = parseKey(active).kind === 'room' ? `# ${c.title}` : c.title;
  const list = $('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.replaceChildren(...[...c.messages.values()].sort((a, b) => a.ts - b.ts).map((m) => {
    const mine = m.from === identity.id;
    const li = el('li', mine ? 'message mine' : 'message');
    li.dataset.id = m.id;
    const head = el('div', 'head');
    head.append(el('span', 'nick', mine ? 'you' : m.nick));
    const time = el('time', 'time', new Date(m.ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
    time.dateTime = new Date(m.ts).toISOString();
    head.append(time);
    li.append(head, el('p', 'text', m.text));
    if (mine) {
      li.dataset.state = m.state;
      const state = el('span', `state ${m.state}`, STATE_TEXT[m.state] ?? m.state);
      if (m.error) state.title = m.error;
      li.append(state);
    }
    return li;
  }));
  if (atBottom) list.scrollTop = list.scrollHeight;
  renderTyping();
}

function renderTyping() {
  const typers = typing.get(active);
  const now = Date.now();
  const names = [];
  for (const [id, t] of typers ?? []) {
    if (t.until > now) names.push(t.nick); else typers.delete(id);
  }
  const line = $('typing');
  line.textContent = names.length === 0 ? ''
    : names.length === 1 ? `${names[0]} is typing…` : `${names.join(', ')} are typing…`;
  line.dataset.typing = names.length > 0 ? 'true' : 'false';
}

function openConversation(key) {
  active = key;
  const c = conversationFor(key);
  if (isVisible()) markRead(c);
  renderLists();
  renderConversation();
  document.body.classList.remove('lists-open');
  $('menu').setAttribute('aria-expanded', 'false');
  $('text').focus();
}

// ---- wiring --------------------------------------------------------------------------

function start() {
  $('join').hidden = true;
  $('app').hidden = false;
  $('me').textContent = identity.nick;
  loadHistory();
  conversationFor(roomKey('general'));
  renderLists();
  renderConversation();

  client = connectShared(brokerUrl(), {
    protocolVersion: 5,
    clientId: `chat-${identity.id}`,
    clean: false,
    keepalive: 30,
    reconnect: { minDelay: 500, maxDelay: 8000 },
    properties: { sessionExpiryInterval: SESSION_EXPIRY_S },
    will: {
      topic: presenceTopic(identity.id),
      payload: JSON.stringify({ id: identity.id, nick: identity.nick, state: 'offline' }),
      qos: 1,
      retain: true,
    },
  });
  connectionBanner(client, $('banner'));
  route();
  client.on('error', (error) => console.warn('mqttwire:', error.code, error.message));
  let subscribed = false;
  client.on('connect', () => {
    presence('online').catch((error) => console.warn('presence not sent', error));
    if (subscribed) return;
    subscribed = true;
    const f = filters(identity.id);
    // Shared, the rooms come back to the connection that sent to them: its other tabs show
    // what this one sent.
    client.subscribeAsync([f.room], { qos: 1, nl: !SHARED })
      .then(() => client.subscribeAsync([f.roomList, f.dm, f.receipt, f.presence], { qos: 1, nl: true }))
      .then(() => client.subscribeAsync([f.roomTyping, f.dmTyping], { qos: 0, nl: true }))
      .catch((error) => console.error('subscribe failed', error));
  });
}

async function leave() {
  if (!client) return;
  try { await presence('offline'); } catch { /* the will says offline instead */ }
  const leaving = client;
  client = null;
  await leaving.endAsync();
  saveIdentities(storedIdentities().filter((i) => i.id !== identity.id));
  localStorage.removeItem(historyKey());
  location.reload();
}

$('join').addEventListener('submit', async (event) => {
  event.preventDefault();
  const nick = $('nick').value.trim().slice(0, 32);
  if (!nick) return;
  const fresh = { id: randomId(12), nick };
  await lockIdentity(fresh.id);
  saveIdentities([...storedIdentities(), fresh]);
  localStorage.setItem('mqttwire-chat-last-nick', nick);
  identity = fresh;
  start();
});

$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('text');
  const text = input.value.trim();
  if (!text || !client) return;
  input.value = '';
  send(text);
});
$('text').addEventListener('input', () => { if ($('text').value) sendTyping(); });

$('new-room').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('room-name');
  const name = input.value.trim().toLowerCase();
  if (!/^[a-z0-9-]{1,32}$/.test(name) || !client) return;
  input.value = '';
  publish(roomListTopic(name), { name, by: identity.id }, { qos: 1, retain: true }).catch(() => {});
  openConversation(roomKey(name));
});

$('leave').addEventListener('click', () => { leave(); });
$('menu').addEventListener('click', () => {
  const open = document.body.classList.toggle('lists-open');
  $('menu').setAttribute('aria-expanded', String(open));
});
document.addEventListener('visibilitychange', () => {
  if (isVisible() && client) {
    markRead(conversationFor(active));
    renderLists();
  }
});
window.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') document.body.classList.remove('lists-open');
});

identity = await pickIdentity();
if (identity) start();
else {
  $('join').hidden = false;
  $('nick').value = localStorage.getItem('mqttwire-chat-last-nick') ?? '';
  $('banner').textContent = 'Choose a nickname to join';
  $('banner').dataset.state = 'idle';
}
