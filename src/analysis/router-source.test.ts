import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AnalysisRule } from '../config/types.ts';
import { SlotMetrics, bucketOf, emptySnapshot, type SlotMetricsSnapshot } from '../router/metrics.ts';
import { RouterSource, errorRate } from './router-source.ts';

const ER: AnalysisRule = { metric: 'error_rate', max: 0.01 };
const P99: AnalysisRule = { metric: 'p99', max: 500 };

/** A router's counters and a clock the test moves by hand. */
function fixture(retain?: number) {
  let clock = 1_000_000;
  const blue = new SlotMetrics();
  const green = new SlotMetrics();
  let override: Record<'blue' | 'green', SlotMetricsSnapshot> | null = null;
  const src = new RouterSource(() => ({ slots: override ?? { blue: blue.snapshot(), green: green.snapshot() } }), {
    interval: 1000,
    now: () => clock,
    ...(retain !== undefined ? { retain } : {}),
  });
  return {
    src,
    blue,
    green,
    advance: (ms: number) => (clock += ms),
    now: () => clock,
    freeze: (s: Record<'blue' | 'green', SlotMetricsSnapshot> | null) => (override = s),
  };
}

test('the error rate counts 5xx over requests, and an upstream failure the router answered with 502 once', () => {
  const s = emptySnapshot();
  s.requests = 100;
  s.status[2] = 90;
  s.status[5] = 10; // of which 6 were the router's own 502/504 for failed upstreams
  s.upstreamErrors = 6;
  assert.equal(errorRate(s), 0.1);
  assert.equal(errorRate(emptySnapshot()), null, 'no requests is no rate, not 0%');
});

test('a measurement covers only the traffic since the window started', async () => {
  const f = fixture();
  for (let i = 0; i < 50; i++) f.green.record(500, 1);
  await f.src.checkpoint();
  f.advance(1000);
  const since = f.now();
  await f.src.checkpoint();
  f.advance(1000);
  for (let i = 0; i < 99; i++) f.green.record(200, 1);
  f.green.record(502, 1);
  f.green.upstreamErrors++;
  const m = await f.src.measure(ER, { slot: 'green', version: 'v2', sinceMs: since });
  assert.equal(m.samples, 100);
  assert.equal(m.value, 0.01, 'the 50 errors before the window are not in it, and the 502 counts once');
  assert.equal(m.from, new Date(since).toISOString());
  const blue = await f.src.measure(ER, { slot: 'blue', version: 'v1', sinceMs: since });
  assert.deepEqual([blue.value, blue.samples], [null, 0], 'a slot without traffic has nothing to judge');
});

test('a window that starts between snapshots starts at the snapshot before it, so no request is missed', async () => {
  const f = fixture();
  await f.src.checkpoint();
  f.advance(1000);
  for (let i = 0; i < 10; i++) f.green.record(200, 1);
  const m = await f.src.measure(ER, { slot: 'green', version: 'v2', sinceMs: f.now() - 500 });
  assert.equal(m.samples, 10);
});

test('latency quantiles come from the histogram of the window alone', async () => {
  const f = fixture();
  for (let i = 0; i < 1000; i++) f.green.record(200, 900);
  await f.src.checkpoint();
  const since = f.now();
  f.advance(1000);
  for (let i = 0; i < 100; i++) f.green.record(200, 10);
  const m = await f.src.measure(P99, { slot: 'green', version: 'v2', sinceMs: since });
  assert.equal(m.samples, 100);
  assert.ok(m.value !== null && m.value > 8 && m.value < 13, `p99 ${m.value} is about 10ms, untouched by the slow requests before`);
});

test('the ring forgets snapshots older than it retains, but keeps one at the edge', async () => {
  const f = fixture(5000);
  for (let i = 0; i < 20; i++) {
    await f.src.checkpoint();
    f.advance(1000);
  }
  assert.ok(f.src.size <= 7, `${f.src.size} snapshots kept`);
  f.green.record(200, 1);
  const m = await f.src.measure(ER, { slot: 'green', version: 'v2', sinceMs: 0 });
  assert.equal(m.samples, 1, 'a window older than the ring starts at its oldest snapshot');
});

test('counters that go backwards (a worker missing from a snapshot) give an error, not a number', async () => {
  const f = fixture();
  for (let i = 0; i < 30; i++) f.green.record(200, 1);
  await f.src.checkpoint();
  const since = f.now();
  f.advance(1000);
  f.freeze({ blue: emptySnapshot(), green: emptySnapshot() });
  const m = await f.src.measure(ER, { slot: 'green', version: 'v2', sinceMs: since });
  assert.equal(m.value, null);
  assert.match(m.error ?? '', /went backwards/);
});

test('a reader that throws gives an error measurement', async () => {
  const src = new RouterSource(() => Promise.reject(new Error('worker gone')), { interval: 1000 });
  const m = await src.measure(ER, { slot: 'green', version: 'v2', sinceMs: 0 });
  assert.match(m.error ?? '', /reading the router's counters failed: worker gone/);
});

test('rules measured together share one read of the counters', async () => {
  let reads = 0;
  const src = new RouterSource(
    async () => {
      reads++;
      return { slots: { blue: emptySnapshot(), green: emptySnapshot() } };
    },
    { interval: 1000 },
  );
  await Promise.all([ER, P99, ER].map((r) => src.measure(r, { slot: 'green', version: 'v2', sinceMs: 0 })));
  assert.equal(reads, 1);
});

test('start() takes a snapshot every interval until close()', async () => {
  const src = new RouterSource(() => ({ slots: { blue: emptySnapshot(), green: emptySnapshot() } }), { interval: 20 });
  await src.start();
  // Waits for the ticks rather than a fixed 130 ms: on a loaded machine timers fire late, not never.
  const deadline = Date.now() + 5000;
  while (src.size < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  src.close();
  const n = src.size;
  assert.ok(n >= 3, `${n} snapshots`);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(src.size, n);
});

test('a latency rule counts requests still in flight past its max as slow, and leaves younger ones out', async () => {
  const f = fixture();
  await f.src.checkpoint();
  const since = f.now();
  f.advance(1000);
  const ages = (ms: number, n: number): number[] => {
    const h = emptySnapshot().latency;
    h[bucketOf(ms)] = n;
    return h;
  };
  const live = (inFlightAge: number[]): Record<'blue' | 'green', SlotMetricsSnapshot> => ({
    blue: emptySnapshot(),
    green: { ...emptySnapshot(), inFlight: 50, inFlightAge },
  });
  // 50 requests running for 800 ms against a 500 ms max: slow already, though none has answered.
  f.freeze(live(ages(800, 50)));
  const slow = await f.src.measure(P99, { slot: 'green', version: 'v2', sinceMs: since });
  assert.equal(slow.samples, 50);
  assert.ok(slow.value !== null && slow.value > 500, `p99 ${slow.value} is past the max while nothing has answered yet`);
  // 50 requests running for 100 ms: not slow yet, so no samples and no verdict from them.
  f.freeze(live(ages(100, 50)));
  const young = await f.src.measure(P99, { slot: 'green', version: 'v2', sinceMs: since });
  assert.equal(young.samples, 0);
  assert.equal(young.value, null);
});

test('at a 100 ms interval the ring keeps every snapshot of the last seconds and one a second before, but never drops a checkpoint', async () => {
  const f = fixture(60_000);
  await f.src.checkpoint();
  const start = f.now();
  for (let i = 0; i < 300; i++) {
    f.advance(100);
    f.green.record(500, 5);
    await f.src.measure(ER, { slot: 'green', version: 'v2', sinceMs: f.now() - 1000 });
  }
  // 30 s of snapshots: 10 s dense (100) + 20 s sparse (~20) + the checkpoint, not 300.
  assert.ok(f.src.size < 130 && f.src.size > 110, `ring holds ${f.src.size}`);
  const whole = await f.src.measure(ER, { slot: 'green', version: 'v2', sinceMs: start });
  assert.equal(whole.samples, 300, 'a measurement from the checkpoint still counts exactly the requests since it');
  const recent = await f.src.measure(ER, { slot: 'green', version: 'v2', sinceMs: f.now() - 1000 });
  assert.equal(recent.samples, 10);
});
