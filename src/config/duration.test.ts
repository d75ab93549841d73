import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, MAX_DURATION_MS, parseDuration } from './duration.ts';

test('durations with one unit become milliseconds', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('0s'), 0);
});

test('durations with several units add up, largest unit first', () => {
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('1h2m3s4ms'), 3_723_004);
  assert.equal(parseDuration('1.5s'), 1500);
});

test('a bare number is refused with a message that asks for a unit', () => {
  assert.throws(() => parseDuration(30), /write a duration with its unit, like 30s or 30ms/);
  assert.throws(() => parseDuration('30'), /write a duration with its unit, like 30s or 30ms/);
});

test('malformed durations are refused with an example of the right form', () => {
  for (const bad of ['', '5 s', '5x', 's', '-5s', '1.5.5s', '30s1m', '1s1s', 'abc']) {
    assert.throws(() => parseDuration(bad), RangeError, bad);
  }
  assert.throws(() => parseDuration('30s1m'), /largest unit first/);
  assert.throws(() => parseDuration('5x'), /like 30s, 250ms or 1m30s/);
  assert.throws(() => parseDuration(null), /expected a duration/);
});

test('durations longer than Node timers can wait are refused', () => {
  assert.equal(parseDuration('596h'), 596 * 3_600_000);
  assert.ok(parseDuration('596h') <= MAX_DURATION_MS);
  assert.throws(() => parseDuration('597h'), /too long/);
});

test('formatDuration writes what parseDuration reads back', () => {
  for (const ms of [0, 1, 250, 1000, 90_000, 3_723_004, 1_800_000]) {
    assert.equal(parseDuration(formatDuration(ms)), ms);
  }
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(0), '0s');
});
