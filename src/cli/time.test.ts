import assert from 'node:assert/strict';
import { test } from 'node:test';
import { humanDuration, humanReason, localTime, relative } from './time.ts';

test('durations read in human units, never as thousands of milliseconds', () => {
  assert.equal(humanDuration(300_000), '5m');
  assert.equal(humanDuration(90_000), '1m30s');
  assert.equal(humanDuration(1500), '1.5s');
  assert.equal(humanDuration(250), '250ms');
  assert.equal(humanDuration(2 * 3_600_000 + 5 * 60_000), '2h5m');
  assert.equal(humanDuration(26 * 3_600_000), '1d2h');
  assert.equal(humanReason('SIGKILL after 300000 ms; restarting in 1500ms'), 'SIGKILL after 5m; restarting in 1.5s');
  assert.equal(humanReason('took 250 ms'), 'took 250 ms', 'short ones stay as they are');
  const now = new Date(2026, 10, 30, 14, 5, 11).getTime();
  const at = new Date(2026, 10, 30, 14, 35, 11).toISOString();
  assert.equal(humanReason(`blue stays on standby until ${at}`, now), 'blue stays on standby until 14:35:11 (in 30m)');
});

test('a time is local with how long ago, and carries its date when it is not today', () => {
  const now = new Date(2026, 10, 30, 14, 5, 11).getTime();
  assert.equal(localTime(new Date(2026, 10, 30, 14, 2, 11).toISOString(), now), '14:02:11 (3m ago)');
  assert.equal(localTime(new Date(2026, 10, 30, 14, 5, 11, 300).toISOString(), now), '14:05:11 (now)');
  assert.equal(localTime(new Date(2026, 10, 29, 12, 0, 0).toISOString(), now), '2026-11-29 12:00:00 (1d2h ago)');
  assert.equal(relative(4 * 60_000), 'in 4m');
  assert.equal(localTime(null, now), '-');
});
