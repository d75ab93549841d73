import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Phase, ReleaseRecord } from '../store/types.ts';
import { slotsToRestart } from './resume.ts';

const release = (phase: Phase, data: Record<string, unknown> = {}): ReleaseRecord => ({
  id: 'rel_1',
  service: 'web',
  version: 'v2',
  slot: 'green',
  fromSlot: 'blue',
  phase,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  data,
});

test('a service with no release runs nothing again, and one with a live version runs that slot only', () => {
  assert.deepEqual(slotsToRestart(null, null, null), []);
  assert.deepEqual(slotsToRestart('blue', 'v1', null), ['blue']);
});

test('before traffic moves only the live slot restarts: the release provisions its own slot when it continues', () => {
  for (const phase of ['pending', 'provisioning', 'verifying', 'awaiting-approval'] as const) {
    assert.deepEqual(slotsToRestart('blue', 'v1', release(phase)), ['blue'], phase);
  }
});

test('with traffic moved both slots restart, the live one first', () => {
  assert.deepEqual(slotsToRestart('blue', 'v1', release('shifting')), ['blue', 'green']);
  assert.deepEqual(slotsToRestart('green', 'v2', release('observing')), ['green', 'blue']);
  const later = new Date(Date.now() + 60_000).toISOString();
  assert.deepEqual(slotsToRestart('green', 'v2', release('promoted', { standbyUntil: later })), ['green', 'blue']);
});

test('a standby slot whose time ran out while the daemon was down is not started again', () => {
  const past = new Date(Date.now() - 1000).toISOString();
  assert.deepEqual(slotsToRestart('green', 'v2', release('promoted', { standbyUntil: past })), ['green']);
});

test('a standby a failed release gave back runs again, and the good slot of an owed switch back starts first', () => {
  assert.deepEqual(slotsToRestart('green', 'v2', null, Date.now(), 'blue'), ['green', 'blue']);
  assert.deepEqual(slotsToRestart('green', 'v2', null, Date.now(), 'blue', 'blue'), ['blue', 'green']);
});
