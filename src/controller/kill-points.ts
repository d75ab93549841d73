// A test hook, honoured only with an explicit environment variable: CUTOVER_TEST_KILL_AT=<name> makes
// the controller SIGKILL its own process when it reaches the step boundary of that name, so a test
// can hit each boundary of a transition (recorded, not yet in effect) deterministically instead of
// racing a kill from outside. Without the variable a kill point is one comparison.
const KILL_AT = process.env.CUTOVER_TEST_KILL_AT ?? null;

/** The names tests aim at; each marks a step boundary the store must survive a kill at. */
export type KillPoint =
  /** a release that ended before traffic moved is recorded failed/aborted; its slot not yet cleaned up */
  | 'ended:recorded'
  /** `cutover rollback` / a failed analysis is about to record rolled-back */
  | 'rollback:start'
  /** rolled-back is recorded; traffic not yet switched back */
  | 'rollback:recorded'
  /** traffic is switched back; hooks and the log not yet told */
  | 'rollback:switched';

export function killPoint(name: KillPoint): void {
  if (KILL_AT !== name) return;
  process.kill(process.pid, 'SIGKILL');
  // The signal lands within moments: nothing after the boundary may run meanwhile.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5000);
}
