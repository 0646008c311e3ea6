// The package's topic matching in JavaScript (js/util.js), which the shared worker routes
// messages to tabs with and a shared client's `handle` uses: the MQTT rules
// [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.2-1] and shared subscriptions.
//
//   node --test client-wasm/tests/js/util.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topicMatches } from '../../js/util.js';

test('exact, single-level and multi-level filters', () => {
  const cases = [
    ['a/b', 'a/b', true], ['a/b', 'a/c', false], ['a/b', 'a/b/c', false], ['a/b/c', 'a/b', false],
    ['a/+', 'a/b', true], ['a/+', 'a/b/c', false], ['+/+', 'a/b', true], ['a/+/c', 'a/x/c', true],
    ['a/+', 'a/', true], ['+', '', true], ['+', '/', false], ['/+', '/a', true],
    ['#', 'a', true], ['#', 'a/b/c', true], ['a/#', 'a', true], ['a/#', 'a/b/c', true],
    ['a/#', 'ab', false], ['a/b/#', 'a/c', false],
  ];
  for (const [filter, topic, want] of cases) assert.equal(topicMatches(filter, topic), want, `${filter} ~ ${topic}`);
});

test('wildcards at the first level do not match topics starting with $', () => {
  assert.equal(topicMatches('#', '$SYS/broker/uptime'), false);
  assert.equal(topicMatches('+/broker/uptime', '$SYS/broker/uptime'), false);
  assert.equal(topicMatches('$SYS/#', '$SYS/broker/uptime'), true);
  assert.equal(topicMatches('$SYS/+/uptime', '$SYS/broker/uptime'), true);
});

test('a shared subscription matches by its topic filter', () => {
  assert.equal(topicMatches('$share/group/a/+', 'a/b'), true);
  assert.equal(topicMatches('$share/group/a/+', 'group/a/b'), false);
  assert.equal(topicMatches('$share/g/#', 'x/y'), true);
});
