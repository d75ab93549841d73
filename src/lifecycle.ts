// The release lifecycle, a domain concept in one place (DESIGN.md, "Release lifecycle"): the phases,
// the one table of which phase may follow which, and how phases are classified (before traffic, with
// traffic, terminal). A leaf module: the stores enforce it on every transition; the controller, the
// API and the metrics ask it before acting. It imports nothing of cutover but its errors.

import { CutoverError } from './errors.ts';

/** A release's phase; the allowed moves between them are in NEXT below. */
export type Phase =
  | 'pending'
  | 'provisioning'
  | 'verifying'
  | 'awaiting-approval'
  | 'shifting'
  | 'observing'
  | 'promoted'
  | 'retired'
  | 'failed'
  | 'aborted'
  | 'rolled-back';

export const PHASES: readonly Phase[] = [
  'pending',
  'provisioning',
  'verifying',
  'awaiting-approval',
  'shifting',
  'observing',
  'promoted',
  'retired',
  'failed',
  'aborted',
  'rolled-back',
];

/**
 * Before traffic moves (pending..awaiting-approval) a release ends `failed` or `aborted` and the live
 * slot was never touched. Once traffic moves (shifting, observing, promoted) the only way back is
 * `rolled-back`, which puts traffic on the old slot. `promoted` is not an end: its standby slot still
 * waits to be retired, and rollback stays instant until then.
 */
const NEXT: Record<Phase, readonly Phase[]> = {
  pending: ['provisioning', 'failed', 'aborted'],
  provisioning: ['verifying', 'failed', 'aborted'],
  // approval: auto goes straight to shifting.
  verifying: ['awaiting-approval', 'shifting', 'failed', 'aborted'],
  'awaiting-approval': ['shifting', 'failed', 'aborted'],
  shifting: ['observing', 'rolled-back'],
  observing: ['promoted', 'rolled-back'],
  promoted: ['retired', 'rolled-back'],
  retired: [],
  failed: [],
  aborted: [],
  'rolled-back': [],
};

export function nextPhases(from: Phase): readonly Phase[] {
  return NEXT[from];
}

export function canTransition(from: Phase, to: Phase): boolean {
  return NEXT[from].includes(to);
}

/** A terminal release is over: nothing follows it, and its service may start another release. */
export function isTerminal(phase: Phase): boolean {
  switch (phase) {
    case 'pending':
    case 'provisioning':
    case 'verifying':
    case 'awaiting-approval':
    case 'shifting':
    case 'observing':
    case 'promoted':
      return false;
    case 'retired':
    case 'failed':
    case 'aborted':
    case 'rolled-back':
      return true;
    default: {
      const never: never = phase;
      throw new Error(`unknown phase ${String(never)}`);
    }
  }
}

/**
 * Before traffic moves a release may be aborted and ends `failed` or `aborted`; the live slot is
 * untouched and its slot may still be previewed.
 */
export function isBeforeTraffic(phase: Phase): boolean {
  switch (phase) {
    case 'pending':
    case 'provisioning':
    case 'verifying':
    case 'awaiting-approval':
      return true;
    case 'shifting':
    case 'observing':
    case 'promoted':
    case 'retired':
    case 'failed':
    case 'aborted':
    case 'rolled-back':
      return false;
    default: {
      const never: never = phase;
      throw new Error(`unknown phase ${String(never)}`);
    }
  }
}

/** Whether users' traffic may be on the release's slot in this phase (rollback must move it back). */
export function hasTraffic(phase: Phase): boolean {
  switch (phase) {
    case 'shifting':
    case 'observing':
    case 'promoted':
      return true;
    case 'pending':
    case 'provisioning':
    case 'verifying':
    case 'awaiting-approval':
    case 'retired':
    case 'failed':
    case 'aborted':
    case 'rolled-back':
      return false;
    default: {
      const never: never = phase;
      throw new Error(`unknown phase ${String(never)}`);
    }
  }
}

export const TERMINAL_PHASES: readonly Phase[] = PHASES.filter(isTerminal);
/** The phases an abort may leave (a store transition's `from` guard). */
export const BEFORE_TRAFFIC_PHASES: readonly Phase[] = PHASES.filter(isBeforeTraffic);
/** The phases a rollback may leave: traffic is, or may be, on the release's slot. */
export const WITH_TRAFFIC_PHASES: readonly Phase[] = PHASES.filter(hasTraffic);

/** The part of a store event that the lifecycle reads (kept structural so this stays a leaf). */
export interface PhaseEvent {
  seq: number;
  releaseId: string | null;
  type: string;
  phase?: Phase;
}

export function isPhase(value: string): value is Phase {
  return (PHASES as readonly string[]).includes(value);
}

/**
 * A release's phase derived from its events alone (the events of that one release, in seq order): the phase of its last `phase` event, checking that
 * each one was a legal move. Null when there is none. The stores keep the same answer on the release
 * record so it can be read without replaying; this is how anyone can check that they agree.
 */
export function derivePhase(events: readonly PhaseEvent[]): Phase | null {
  let phase: Phase | null = null;
  for (const e of events) {
    if (e.type !== 'phase' || e.phase === undefined) continue;
    if (phase === null ? e.phase !== 'pending' : !canTransition(phase, e.phase)) {
      throw new CutoverError(
        'CUTOVER_E_INTERNAL',
        `event ${e.seq} of release ${e.releaseId ?? '?'} moves ${phase ?? 'nothing'} to ${e.phase}, which the phase table forbids; the event log is damaged, report it`,
      );
    }
    phase = e.phase;
  }
  return phase;
}
