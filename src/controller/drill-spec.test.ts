import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Phase, ReleaseRecord, StoreEvent } from '../store/types.ts';
import { drillData, drillResult } from './drill-spec.ts';

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
function release(phase: Phase, reason: string | null, drill = true): ReleaseRecord {
  return {
    id: 'rel_1',
    service: 'web',
    version: 'v1',
    slot: 'green',
    fromSlot: 'blue',
    phase,
    reason,
    createdAt: at(0),
    updatedAt: at(0),
    data: drill ? { fromVersion: 'v1', ...drillData({ errors: 0.3, latency: 0, goalMs: 1000 }) } : { fromVersion: 'v1' },
  } as ReleaseRecord;
}
let seq = 0;
const ev = (ms: number, type: StoreEvent['type'], data: Record<string, unknown>): StoreEvent =>
  ({ seq: ++seq, time: at(ms), service: 'web', releaseId: 'rel_1', type, actor: 'controller', reason: '', data }) as StoreEvent;

const moved = [
  ev(0, 'switch', { live: 'blue', weights: { blue: 100, green: 0 }, faults: { slot: 'green' } }),
  ev(10, 'switch', { from: 'blue', to: 'green' }),
];

test('a drill rolled back by analysis within the goal passed, with the time from traffic on the new slot to back on the old', () => {
  const r = drillResult(release('rolled-back', 'analysis failed: error_rate'), [
    ...moved,
    ev(430, 'switch', { from: 'green', to: 'blue' }),
  ]);
  assert.equal(r?.result, 'passed');
  assert.equal(r?.timeToRollbackMs, 420);
});

test('a drill over the goal, rolled back by the drill itself, or promoted failed; an ordinary release is no drill', () => {
  const slow = drillResult(release('rolled-back', 'analysis failed: p99'), [...moved, ev(1510, 'switch', { from: 'green', to: 'blue' })]);
  assert.equal(slow?.result, 'failed');
  assert.equal(slow?.timeToRollbackMs, 1500);
  const byDrill = drillResult(release('rolled-back', 'drill over: analysis did not roll back'), [
    ...moved,
    ev(10_010, 'switch', { from: 'green', to: 'blue' }),
  ]);
  assert.equal(byDrill?.result, 'failed');
  assert.equal(drillResult(release('promoted', 'version v1 is live'), moved)?.result, 'failed');
  assert.equal(drillResult(release('observing', null), moved)?.result, 'running');
  assert.equal(drillResult(release('rolled-back', 'analysis failed', false), moved), null);
});

test('a progressive shift moves traffic at its first step', () => {
  const steps = [ev(0, 'switch', { live: 'blue', weights: { blue: 90, green: 10 } }), ev(300, 'switch', { from: 'green', to: 'blue' })];
  assert.equal(drillResult(release('rolled-back', 'analysis failed: error_rate'), steps)?.timeToRollbackMs, 300);
});
