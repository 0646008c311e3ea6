// The chat's addresses, spelled once: the MQTT topics it publishes to, the filters it
// subscribes and routes by, and the conversation keys (`room:<room>`, `dm:<user id>`) that
// name a conversation in the page and in localStorage. Pure functions with no DOM and no
// client, so node tests them (www/test/chat-topics.test.mjs).
//
// Topics (the payloads are in www/README.md):
//   chat/rooms/<room>          messages in a room (QoS 1)
//   chat/roomlist/<room>       a room exists (retained)
//   chat/dm/<user>             direct messages to <user> (QoS 1)
//   chat/receipts/<user>       delivered / read receipts for <user>'s messages (QoS 1)
//   chat/presence/<user>       online / offline (retained; the will sets offline)
//   chat/typing/rooms/<room>   someone types in a room (QoS 0)
//   chat/typing/dm/<user>      someone types to <user> (QoS 0)
//
// Room names and user ids are one topic level each. The builders take them as given: the
// chat makes rooms of [a-z0-9-] and ids of hex digits, and other names come from topics it
// received or from payloads (a name with `/` then addresses a topic nobody subscribes to).

/** Messages in `room`. */
export const roomTopic = (room) => `chat/rooms/${room}`;
/** The retained marker that `room` exists. */
export const roomListTopic = (room) => `chat/roomlist/${room}`;
/** Direct messages to `user`. */
export const dmTopic = (user) => `chat/dm/${user}`;
/** Receipts for the messages `user` sent. */
export const receiptTopic = (user) => `chat/receipts/${user}`;
/** The retained presence of `user`, and its will. */
export const presenceTopic = (user) => `chat/presence/${user}`;
/** Someone types in `room`. */
export const roomTypingTopic = (room) => `chat/typing/rooms/${room}`;
/** Someone types to `user`. */
export const dmTypingTopic = (user) => `chat/typing/dm/${user}`;

/**
 * The filters user `me` subscribes to, by the `kind` that `parseTopic` gives the topics
 * each one matches.
 * @param {string} me
 */
export function filters(me) {
  return {
    room: roomTopic('+'),
    roomList: roomListTopic('+'),
    dm: dmTopic(me),
    receipt: receiptTopic(me),
    presence: presenceTopic('+'),
    roomTyping: roomTypingTopic('+'),
    dmTyping: dmTypingTopic(me),
  };
}

/**
 * What a received topic is about: `{ kind, room }` for the kinds `room`, `roomList` and
 * `roomTyping`, `{ kind, user }` for `dm`, `receipt`, `presence` and `dmTyping`; null for
 * a topic outside the scheme, one level too many or too few, or an empty name.
 * @param {string} topic
 * @returns {{ kind: string, room?: string, user?: string } | null}
 */
export function parseTopic(topic) {
  const levels = topic.split('/');
  if (levels[0] !== 'chat') return null;
  const typing = levels[1] === 'typing';
  const shape = typing ? TYPING.get(levels[2]) : TOPICS.get(levels[1]);
  const depth = typing ? 4 : 3;
  const name = levels[depth - 1];
  if (!shape || levels.length !== depth || !name) return null;
  return { kind: shape.kind, [shape.name]: name };
}

/** The key of the conversation in `room`. */
export const roomKey = (room) => `room:${room}`;
/** The key of the direct conversation with `user`. */
export const dmKey = (user) => `dm:${user}`;

/**
 * `{ kind: 'room', room }` or `{ kind: 'dm', user }` for a conversation key; null for a
 * string that is neither.
 * @param {string} key
 * @returns {{ kind: 'room', room: string } | { kind: 'dm', user: string } | null}
 */
export function parseKey(key) {
  const colon = key.indexOf(':');
  if (colon < 0) return null;
  const kind = key.slice(0, colon);
  const name = key.slice(colon + 1);
  if (kind === 'room') return { kind, room: name };
  if (kind === 'dm') return { kind, user: name };
  return null;
}

/**
 * Where the conversation `key` publishes: `{ messages, typing }` topics; null for a key
 * `parseKey` refuses.
 * @param {string} key
 */
export function conversationTopics(key) {
  const c = parseKey(key);
  if (c === null) return null;
  return c.kind === 'room'
    ? { messages: roomTopic(c.room), typing: roomTypingTopic(c.room) }
    : { messages: dmTopic(c.user), typing: dmTypingTopic(c.user) };
}

// Second level of `chat/<level>/<name>` (and third of `chat/typing/<level>/<name>`) ->
// the kind and the name's field. Maps, so `constructor` or `__proto__` are no kinds.
const TOPICS = new Map([
  ['rooms', { kind: 'room', name: 'room' }],
  ['roomlist', { kind: 'roomList', name: 'room' }],
  ['dm', { kind: 'dm', name: 'user' }],
  ['receipts', { kind: 'receipt', name: 'user' }],
  ['presence', { kind: 'presence', name: 'user' }],
]);
const TYPING = new Map([
  ['rooms', { kind: 'roomTyping', name: 'room' }],
  ['dm', { kind: 'dmTyping', name: 'user' }],
]);
