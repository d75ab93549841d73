import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StoreEvent } from '../store/types.ts';
import { chartMarks } from './traffic.ts';

const t0 = Date.parse('2026-12-01T10:00:00Z');
let seq = 0;
function ev(s: number, type: StoreEvent['type'], data: Record<string, unknown>, extra: Partial<StoreEvent> = {}): StoreEvent {
  return {
    seq: ++seq,
    time: new Date(t0 + s * 1000).toISOString(),
    service: 'web',
    releaseId: 'rel_2',
    type,
    actor: 'controller',
    reason: '',
    data,
    ...extra,
  } as StoreEvent;
}

test('the charts mark each move of traffic and each rollback, and not a preview that opens or closes', () => {
  const events = [
    ev(0, 'switch', { from: null, to: 'blue', generation: 1 }, { releaseId: 'rel_1' }),
    ev(10, 'switch', { live: 'blue', weights: { blue: 100, green: 0 }, preview: 'green', generation: 2 }),
    ev(20, 'switch', { live: 'blue', weights: { blue: 100, green: 0 }, preview: null, generation: 3 }),
    ev(21, 'switch', { live: 'blue', weights: { blue: 80, green: 20 }, preview: null, generation: 4 }),
    ev(37, 'switch', { from: 'blue', to: 'green', generation: 5 }),
    ev(40, 'switch', { from: 'green', to: 'blue', generation: 6 }),
    ev(40.2, 'phase', {}, { phase: 'rolled-back' }),
  ];
  const marks = chartMarks(events.reverse(), t0);
  assert.deepEqual(
    marks.map((m) => [m.t - t0, m.kind, m.label]),
    [
      [0, 'switch', '→ blue'],
      [21_000, 'switch', 'green 20%'],
      [37_000, 'switch', '→ green'],
      [40_000, 'rollback', 'rollback → blue'],
    ],
  );
  assert.deepEqual(
    chartMarks(events, t0 + 38_000).map((m) => m.label),
    ['rollback → blue'],
    'only marks inside the span',
  );
});
