// Where a progressive shift stands, in the words status, `deploy --wait` and the dashboard use:
// "step 1 of 2 (20%)" (the CLI and the dashboard write it). A pure function of the config's steps and the route table's weights, so every
// place that shows it says the same, and a daemon that restarted mid-shift says it right away.
import type { ShiftConfig, SlotName } from '../config/types.ts';
import type { Phase } from '../store/types.ts';

export interface ShiftStep {
  /** 1-based: the step the new slot's share is in now. */
  step: number;
  /** Every step, the final 100% included. */
  of: number;
  /** The new slot's share of traffic now. */
  percent: number;
}

/** The step of a shifting release, or null when it is not shifting by steps (or no traffic moved yet). */
export function shiftStep(
  shift: ShiftConfig,
  release: { phase: Phase; slot: SlotName; fromSlot: SlotName | null },
  weights: Record<SlotName, number>,
): ShiftStep | null {
  if (release.phase !== 'shifting' || shift === 'instant' || release.fromSlot === null) return null;
  const percent = weights[release.slot];
  if (percent <= 0) return null;
  const index = shift.steps.findIndex((w) => w >= percent);
  return { step: (index < 0 ? shift.steps.length - 1 : index) + 1, of: shift.steps.length, percent };
}
