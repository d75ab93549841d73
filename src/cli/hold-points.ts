// A test hook, honoured only with explicit environment variables: CUTOVER_TEST_HOLD_AT=<name> and
// CUTOVER_TEST_HOLD_FILE=<path> make `cutover up` wait at the point of that name for as long as the
// file exists, so a test can act (send a signal, say) while the process is at that point, instead
// of racing its timing. Without the variables a hold point is one comparison.
import { existsSync } from 'node:fs';
import type { Logger } from '../log.ts';

const HOLD_AT = process.env.CUTOVER_TEST_HOLD_AT ?? null;
const HOLD_FILE = process.env.CUTOVER_TEST_HOLD_FILE ?? null;
/** A test that never removes the file does not hold the process for ever. */
const MAX_HOLD_MS = 60_000;
const POLL_MS = 20;

/** The names tests aim at. */
export type HoldPoint =
  /** `cutover up` has its early SIGHUP handler and its config, and the controller is about to start */
  'up:starting';

export async function holdPoint(name: HoldPoint, log: Logger): Promise<void> {
  if (HOLD_AT !== name || HOLD_FILE === null || !existsSync(HOLD_FILE)) return;
  log.warn('held at a test hold point until its file is removed', { point: name, file: HOLD_FILE, pid: process.pid });
  const deadline = Date.now() + MAX_HOLD_MS;
  while (existsSync(HOLD_FILE) && Date.now() < deadline) await new Promise((r) => setTimeout(r, POLL_MS));
  log.warn('released from the test hold point', { point: name });
}
