// How a release's steps wait: for time (that an abort cuts short), for an operator's word
// (`cutover promote`, which wakes the running step), and for a stateDir that takes writes again.
import type { CutoverError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { unwritableIn } from '../store/faults.ts';

/** The step loop of one release, as the controller runs it. */
export interface Runner {
  id: string;
  abort: AbortController;
  done: Promise<void>;
  /** What an operator asked of a shift or observation in progress (promote, with --full or not). */
  promoted: { full: boolean; actor: string } | null;
  /** Called by a command that has news for the step (an approval, a promote, an abort). */
  wakers: Set<() => void>;
}

export function wake(runner: Runner): void {
  const all = [...runner.wakers];
  runner.wakers.clear();
  for (const w of all) w();
}

/** Resolves at the next wake(), after `ms` when given, or at an abort (resolves: the caller looks at the signal). */
export function woken(runner: Runner, ms?: number): Promise<void> {
  return new Promise((resolve) => {
    const signal = runner.abort.signal;
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      clearTimeout(timer);
      runner.wakers.delete(done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    if (signal.aborted) return resolve();
    if (ms !== undefined) timer = setTimeout(done, Math.max(0, ms));
    runner.wakers.add(done);
    signal.addEventListener('abort', done, { once: true });
  });
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Milliseconds until an ISO time kept in release data (a restarted daemon waits only what is left); 0 when past or unset. */
export function msUntil(iso: unknown): number {
  const at = typeof iso === 'string' ? Date.parse(iso) : NaN;
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : 0;
}

export function sleepUntil(iso: unknown, signal: AbortSignal): Promise<void> {
  const ms = msUntil(iso);
  return ms > 0 ? sleep(ms, signal) : Promise.resolve();
}

/** The wait before the `n`th retry (from 0) of a write the stateDir refused: doubling, at most 5 s. */
export function storeBackoff(n: number): number {
  return Math.min(250 * 2 ** Math.min(n, 10), 5000);
}

/**
 * Runs `fn` until the store takes its write: while it answers CUTOVER_E_STORE_UNWRITABLE (a full
 * or read-only stateDir) it waits (storeBackoff) and tries again, telling `onWait` why, until
 * `signal` aborts. Any other error is thrown at once. Only for writes whose effect must follow
 * the record however long the disk takes (a rollback's switch back, a stopped slot).
 */
export async function untilWritten<T>(
  fn: () => Promise<T>,
  signal: AbortSignal,
  onWait: (err: CutoverError | null, attempt: number) => void,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await fn();
      if (attempt > 0) onWait(null, attempt);
      return result;
    } catch (err) {
      const unwritable = unwritableIn(err);
      if (unwritable === null) throw err;
      onWait(unwritable, attempt);
      await sleep(storeBackoff(attempt), signal);
    }
  }
}

/** Why a release waits now for the store to take its writes (a full or read-only stateDir), for status. */
export class StoreWaits {
  #waiting: { releaseId: string; reason: string; since: string } | null = null;
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  of(releaseId: string): { reason: string; since: string } | null {
    const w = this.#waiting;
    return w?.releaseId === releaseId ? { reason: w.reason, since: w.since } : null;
  }

  cannotWrite(releaseId: string, err: CutoverError, attempt: number): void {
    if (this.#waiting?.releaseId !== releaseId || this.#waiting.reason !== err.message) {
      this.#waiting = { releaseId, reason: err.message, since: this.#waiting?.since ?? new Date().toISOString() };
    }
    if (attempt === 0)
      this.#log.warn('the store cannot be written: the release waits and tries again', { release: releaseId, reason: err.message });
  }

  wrote(releaseId: string, attempts: number): void {
    if (this.#waiting?.releaseId === releaseId) this.#waiting = null;
    this.#log.info('the store takes writes again: the release goes on', { release: releaseId, attempts });
  }
}
