import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drift, intendedWeights } from './drift.ts';
import type { TrafficState } from './types.ts';

const state = (over: Partial<TrafficState> = {}): TrafficState => ({
  generation: 3,
  live: 'green',
  weights: { blue: 0, green: 100 },
  slots: { blue: { version: '1', targets: ['127.0.0.1:1'] }, green: { version: '2', targets: ['127.0.0.1:2', '127.0.0.1:3'] } },
  ...over,
});

test('a balancer that serves the live slot on exactly its targets shows no drift', () => {
  const observed = { weights: { blue: 0, green: 100 }, targets: { blue: [], green: ['127.0.0.1:3', '127.0.0.1:2'] }, detail: '' };
  assert.deepEqual(drift(state(), observed), []);
});

test('a balancer still sending traffic to the old slot is drift, named by slot and share', () => {
  const observed = { weights: { blue: 100, green: 0 }, targets: { blue: ['127.0.0.1:1'], green: [] }, detail: '' };
  const found = drift(state(), observed);
  assert.ok(found.some((d) => d.includes('blue gets 100%')));
  assert.ok(found.some((d) => d.includes("does not send green's traffic to 127.0.0.1:2, 127.0.0.1:3")));
});

test('without weights from the balancer, traffic to a slot that should have none is drift', () => {
  const observed = { weights: null, targets: { blue: ['127.0.0.1:1'], green: ['127.0.0.1:2', '127.0.0.1:3'] }, detail: '' };
  assert.deepEqual(drift(state(), observed), ['the balancer still sends traffic to blue (127.0.0.1:1), the route table gives it none']);
});

test('weights within one point (integer rounding at the balancer) are no drift; a live slot with zero weights means 100%', () => {
  const split = state({ weights: { blue: 67, green: 33 } });
  const observed = {
    weights: { blue: 66.4, green: 33.6 },
    targets: { blue: ['127.0.0.1:1'], green: ['127.0.0.1:2', '127.0.0.1:3'] },
    detail: '',
  };
  assert.deepEqual(drift(split, observed), []);
  assert.deepEqual(intendedWeights(state({ weights: { blue: 0, green: 0 } })), { blue: 0, green: 100 });
});
