import assert from 'node:assert/strict';
import { test } from 'node:test';
import { restartDelay, RESTART_BACKOFF } from './replica.ts';

test('restarts wait 100 ms, doubling with every further death, at most 10 s', () => {
  const delays = Array.from({ length: 10 }, (_, i) => restartDelay(RESTART_BACKOFF, i));
  assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]);
});
