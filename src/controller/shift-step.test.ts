import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shiftStep } from './shift-step.ts';

const shifting = { phase: 'shifting', slot: 'green', fromSlot: 'blue' } as const;
const steps = { steps: [20, 100], hold: 30_000 };

test('a shift at its first step of [20, 100] is step 1 of 2 at 20%, counting the final 100%', () => {
  assert.deepEqual(shiftStep(steps, shifting, { blue: 80, green: 20 }), { step: 1, of: 2, percent: 20 });
  assert.deepEqual(shiftStep(steps, shifting, { blue: 0, green: 100 }), { step: 2, of: 2, percent: 100 });
  assert.deepEqual(shiftStep({ steps: [10, 50, 100], hold: 1 }, shifting, { blue: 50, green: 50 }), { step: 2, of: 3, percent: 50 });
});

test('no step is shown for an instant shift, a first release, another phase, or before traffic moved', () => {
  assert.equal(shiftStep('instant', shifting, { blue: 0, green: 100 }), null);
  assert.equal(shiftStep(steps, { ...shifting, fromSlot: null }, { blue: 0, green: 100 }), null);
  assert.equal(shiftStep(steps, { ...shifting, phase: 'observing' }, { blue: 0, green: 100 }), null);
  assert.equal(shiftStep(steps, shifting, { blue: 100, green: 0 }), null);
});
