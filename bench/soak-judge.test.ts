import assert from 'node:assert/strict';
import { test } from 'node:test';
import { judge, type Sample } from './soak-judge.ts';

const MiB = 1024 * 1024;
const run = (n: number, rss: (i: number) => number, fds: (i: number) => number): Sample[] =>
  Array.from({ length: n }, (_, i) => ({ at: i * 5000, rssBytes: rss(i), fds: fds(i) }));

test('a daemon whose memory and descriptors only wobble is flat', () => {
  const v = judge(
    run(
      100,
      (i) => (80 + (i % 7) * 3) * MiB,
      (i) => 40 + (i % 3),
    ),
    60_000,
  );
  assert.equal(v.flat, true, v.reasons.join('; '));
});

test('memory that keeps growing, or descriptors that leak, is not flat, and the reason says by how much', () => {
  const leak = judge(
    run(
      100,
      (i) => (80 + i) * MiB,
      () => 40,
    ),
    60_000,
  );
  assert.equal(leak.flat, false);
  assert.match(leak.reasons[0]!, /RSS grew from .* MiB to .* MiB/);
  const fds = judge(
    run(
      100,
      () => 80 * MiB,
      (i) => 40 + Math.floor(i / 2),
    ),
    60_000,
  );
  assert.equal(fds.flat, false);
  assert.match(fds.reasons[0]!, /file descriptors grew from \d+ to \d+/);
});

test('too few samples after the warm-up is no verdict of flat', () => {
  const v = judge(
    run(
      10,
      () => 80 * MiB,
      () => 40,
    ),
    60_000,
  );
  assert.equal(v.flat, false);
  assert.match(v.reasons[0]!, /run longer/);
});
