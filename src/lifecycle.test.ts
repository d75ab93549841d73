import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BEFORE_TRAFFIC_PHASES,
  canTransition,
  derivePhase,
  hasTraffic,
  isBeforeTraffic,
  isTerminal,
  nextPhases,
  PHASES,
  TERMINAL_PHASES,
  WITH_TRAFFIC_PHASES,
} from './lifecycle.ts';
import type { Phase, StoreEvent } from './store/types.ts';

const reachableFrom = (start: Phase): Set<Phase> => {
  const seen = new Set<Phase>([start]);
  const todo = [start];
  for (let p = todo.pop(); p !== undefined; p = todo.pop()) {
    for (const n of nextPhases(p))
      if (!seen.has(n)) {
        seen.add(n);
        todo.push(n);
      }
  }
  return seen;
};

test('the terminal phases are retired, failed, aborted and rolled-back, and nothing follows them', () => {
  assert.deepEqual([...TERMINAL_PHASES].sort(), ['aborted', 'failed', 'retired', 'rolled-back']);
  for (const p of TERMINAL_PHASES) assert.deepEqual(nextPhases(p), []);
  assert.equal(isTerminal('promoted'), false);
});

test('every phase is reachable from pending and every release can end', () => {
  assert.deepEqual([...reachableFrom('pending')].sort(), [...PHASES].sort());
  for (const p of PHASES) {
    assert.ok([...reachableFrom(p)].some(isTerminal), `${p} can reach an end`);
  }
});

test('once traffic has moved a release can only end by rolling back or retiring, never failed or aborted', () => {
  for (const p of PHASES.filter(hasTraffic)) {
    assert.equal(canTransition(p, 'failed'), false, p);
    assert.equal(canTransition(p, 'aborted'), false, p);
    assert.equal(canTransition(p, 'rolled-back'), true, p);
  }
  for (const p of ['pending', 'provisioning', 'verifying', 'awaiting-approval'] as const) {
    assert.equal(hasTraffic(p), false);
    assert.equal(canTransition(p, 'rolled-back'), false, `${p}: the live slot was never touched, nothing to roll back`);
    assert.equal(canTransition(p, 'aborted'), true, p);
  }
});

test('every phase is exactly one of before traffic, with traffic, or ended, and abort only leaves the first', () => {
  for (const p of PHASES) {
    const classes = [isBeforeTraffic(p), hasTraffic(p), isTerminal(p)].filter(Boolean);
    assert.equal(classes.length, 1, p);
  }
  assert.deepEqual(BEFORE_TRAFFIC_PHASES, ['pending', 'provisioning', 'verifying', 'awaiting-approval']);
  assert.deepEqual(WITH_TRAFFIC_PHASES, ['shifting', 'observing', 'promoted']);
  for (const p of BEFORE_TRAFFIC_PHASES) assert.equal(canTransition(p, 'aborted'), true, p);
  for (const p of WITH_TRAFFIC_PHASES) assert.equal(canTransition(p, 'aborted'), false, p);
});

test('approval is skipped when automatic, but traffic never moves before verifying', () => {
  assert.equal(canTransition('verifying', 'shifting'), true);
  assert.equal(canTransition('verifying', 'awaiting-approval'), true);
  assert.equal(canTransition('provisioning', 'shifting'), false);
  assert.equal(canTransition('pending', 'promoted'), false);
});

const phaseEvent = (seq: number, phase: Phase): StoreEvent => ({
  seq,
  time: new Date(seq).toISOString(),
  service: 'web',
  releaseId: 'rel_1',
  type: 'phase',
  phase,
  actor: 'controller',
  reason: 'test',
  data: {},
});

test('a phase derived from events is the last legal phase event, and an illegal log is reported', () => {
  const { phase: _, ...rest } = phaseEvent(3, 'pending');
  const gate: StoreEvent = { ...rest, type: 'gate' };
  assert.equal(derivePhase([]), null);
  assert.equal(derivePhase([phaseEvent(1, 'pending'), phaseEvent(2, 'provisioning'), gate, phaseEvent(4, 'failed')]), 'failed');
  assert.throws(() => derivePhase([phaseEvent(1, 'pending'), phaseEvent(2, 'promoted')]), {
    code: 'CUTOVER_E_INTERNAL',
    message: /event 2 of release rel_1 moves pending to promoted/,
  });
  assert.throws(() => derivePhase([phaseEvent(1, 'provisioning')]), { code: 'CUTOVER_E_INTERNAL' });
});
