// The chat's topic scheme (www/src/chat-topics.js) in node, no browser: the exact strings
// other clients rely on, that every topic the chat builds is matched by the filter of its
// kind and parses back to it, and the topics the parser refuses.
//
//   node --test www/test/*.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  conversationTopics, dmKey, dmTopic, dmTypingTopic, filters, parseKey, parseTopic, presenceTopic, receiptTopic,
  roomKey, roomListTopic, roomTopic, roomTypingTopic,
} from '../src/chat-topics.js';

const ME = '0123456789abcdef01234567';

/** MQTT topic matching [MQTT-4.7]: `+` one level, `#` the rest; no `$` topics here. */
function matches(filter, topic) {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i += 1) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

// Every topic the chat receives: its kind, the topic built for it, what it parses to.
const RECEIVED = [
  ['room', roomTopic('general'), { kind: 'room', room: 'general' }],
  ['roomList', roomListTopic('side-2'), { kind: 'roomList', room: 'side-2' }],
  ['dm', dmTopic(ME), { kind: 'dm', user: ME }],
  ['receipt', receiptTopic(ME), { kind: 'receipt', user: ME }],
  ['presence', presenceTopic('beef'), { kind: 'presence', user: 'beef' }],
  ['roomTyping', roomTypingTopic('general'), { kind: 'roomTyping', room: 'general' }],
  ['dmTyping', dmTypingTopic(ME), { kind: 'dmTyping', user: ME }],
];

test('builds the topics other clients and the README rely on', () => {
  assert.equal(roomTopic('general'), 'chat/rooms/general');
  assert.equal(roomListTopic('general'), 'chat/roomlist/general');
  assert.equal(dmTopic('ab12'), 'chat/dm/ab12');
  assert.equal(receiptTopic('ab12'), 'chat/receipts/ab12');
  assert.equal(presenceTopic('ab12'), 'chat/presence/ab12');
  assert.equal(roomTypingTopic('general'), 'chat/typing/rooms/general');
  assert.equal(dmTypingTopic('ab12'), 'chat/typing/dm/ab12');
});

test('subscribes to every room, room list and presence, and only my own direct topics', () => {
  assert.deepEqual(filters(ME), {
    room: 'chat/rooms/+',
    roomList: 'chat/roomlist/+',
    dm: `chat/dm/${ME}`,
    receipt: `chat/receipts/${ME}`,
    presence: 'chat/presence/+',
    roomTyping: 'chat/typing/rooms/+',
    dmTyping: `chat/typing/dm/${ME}`,
  });
});

test('can round-trip every received topic through its filter and the parser', () => {
  const f = filters(ME);
  assert.deepEqual(RECEIVED.map(([kind]) => kind).sort(), Object.keys(f).sort());
  for (const [kind, topic, parsed] of RECEIVED) {
    assert.deepEqual(parseTopic(topic), parsed, topic);
    // The filter of its kind matches it, and no other filter does: one receiver per message.
    const matching = Object.entries(f).filter(([, filter]) => matches(filter, topic)).map(([k]) => k);
    assert.deepEqual(matching, [kind], topic);
  }
});

test('rejects direct topics of other users at the filters', () => {
  const f = filters(ME);
  for (const topic of [dmTopic('someone'), receiptTopic('someone'), dmTypingTopic('someone')]) {
    assert.deepEqual(Object.values(f).filter((filter) => matches(filter, topic)), [], topic);
  }
});

test('rejects topics outside the scheme', () => {
  for (const topic of [
    'chat', 'chat/rooms', 'chat/rooms/', 'chat/rooms/a/b', 'chat/typing/rooms', 'chat/typing/rooms/',
    'chat/typing/dm/a/b', 'chat/typing/x/y', 'chat/typing/general', 'chat/unknown/x', 'chat//x',
    'other/rooms/general', '/chat/rooms/general', 'metrics/host/cpu', '',
    // Names of Object.prototype are no kinds.
    'chat/constructor/x', 'chat/__proto__/x', 'chat/typing/constructor/x', 'chat/toString/x',
  ]) {
    assert.equal(parseTopic(topic), null, topic);
  }
});

test('accepts names the scheme does not make, as received', () => {
  assert.deepEqual(parseTopic('chat/rooms/Ünïcode room'), { kind: 'room', room: 'Ünïcode room' });
  assert.deepEqual(parseTopic('chat/presence/dm'), { kind: 'presence', user: 'dm' });
  assert.deepEqual(parseTopic('chat/typing/dm/rooms'), { kind: 'dmTyping', user: 'rooms' });
});

test('can round-trip conversation keys', () => {
  assert.equal(roomKey('general'), 'room:general');
  assert.equal(dmKey(ME), `dm:${ME}`);
  assert.deepEqual(parseKey(roomKey('general')), { kind: 'room', room: 'general' });
  assert.deepEqual(parseKey(dmKey(ME)), { kind: 'dm', user: ME });
  assert.deepEqual(parseKey('room:a:b'), { kind: 'room', room: 'a:b' });
});

test('rejects strings that are no conversation key', () => {
  for (const key of ['', 'room', 'rooms', 'dm', 'general', 'chat:general', 'Room:general', ':general']) {
    assert.equal(parseKey(key), null, key);
  }
});

test('publishes a conversation to the topics its receivers subscribe to', () => {
  assert.deepEqual(conversationTopics(roomKey('general')),
    { messages: 'chat/rooms/general', typing: 'chat/typing/rooms/general' });
  assert.deepEqual(conversationTopics(dmKey('peer')), { messages: 'chat/dm/peer', typing: 'chat/typing/dm/peer' });
  // What I send to a peer is what the peer's filters take in.
  const peer = filters('peer');
  const { messages, typing } = conversationTopics(dmKey('peer'));
  assert.ok(matches(peer.dm, messages) && matches(peer.dmTyping, typing));
  assert.equal(conversationTopics('nonsense'), null);
});
