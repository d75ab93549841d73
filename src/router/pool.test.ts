import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BUCKETS, bucketOf } from './metrics.ts';
import { type Drainable, SlotPool } from './pool.ts';

/** An exchange in progress as the pool sees it: it leaves its slot's active set when the drain closes it. */
class Exchange implements Drainable {
  closed = 0;
  private readonly since: number;
  private readonly pool: SlotPool | null;
  constructor(since: number, pool: SlotPool | null = null) {
    this.since = since;
    this.pool = pool;
  }
  runningSince(): number {
    return this.since;
  }
  drainClose(): void {
    this.closed++;
    this.pool?.active.delete(this);
  }
}

test('at the end of a drain every exchange still in progress on the slot is closed, once', async () => {
  const pool = new SlotPool('blue', []);
  const xs = Array.from({ length: 5 }, () => new Exchange(0, pool));
  for (const x of xs) pool.active.add(x);
  pool.active.delete(xs[1] as Exchange); // finished before the drain ends: not closed
  pool.startDrain(10);
  assert.equal(pool.draining(), true);
  const deadline = Date.now() + 5000;
  while (pool.draining() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(pool.draining(), false);
  assert.deepEqual(
    xs.map((x) => x.closed),
    [1, 0, 1, 1, 1],
  );
  assert.equal(pool.active.size, 0);
});

test('a drain cancelled before its end closes nothing', async () => {
  const pool = new SlotPool('green', []);
  const x = new Exchange(0, pool);
  pool.active.add(x);
  pool.startDrain(20);
  pool.cancelDrain();
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(x.closed, 0);
  assert.equal(pool.active.size, 1);
});

test('the snapshot counts the ages of the requests in flight and skips tunnels', () => {
  const pool = new SlotPool('green', []);
  const now = 10_000;
  for (const x of [new Exchange(now - 2_500), new Exchange(now - 1), new Exchange(-1)]) pool.active.add(x);
  const ages = pool.snapshot(now).inFlightAge;
  const want = new Array<number>(BUCKETS).fill(0);
  want[bucketOf(2_500)]!++;
  want[bucketOf(1)]!++;
  assert.deepEqual(ages, want);
});
