// The daemon's side of the watchdog (watchdog.ts): starts it, tells it about every replica group, and
// starts it again if something kills it while the daemon lives. One per daemon, shared by every
// process provider through acquireWatchdog()/releaseWatchdog().
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.ts';
import { formatCommand } from './watchdog.ts';

const WATCHDOG_FILE = fileURLToPath(new URL('./watchdog.ts', import.meta.url));
/** A watchdog that dies again sooner than this after its start is restarted only after this long. */
const RESPAWN_MIN_INTERVAL_MS = 1000;
const CLOSE_TIMEOUT_MS = 5000;

export class Watchdog {
  readonly #groups = new Map<number, number>();
  readonly #logger: Logger | undefined;
  #child: ChildProcess | null = null;
  #startedAt = 0;
  #respawnTimer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(opts: { logger?: Logger } = {}) {
    this.#logger = opts.logger;
    this.#spawn();
  }

  /** The watchdog's pid, while it runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * Call in the same tick as the spawn of the group's leader: the line reaches the kernel's pipe
   * buffer before this returns (libuv writes at once when nothing is queued), so a daemon killed
   * right after still has its replica covered.
   */
  watch(pgid: number, grace: number): void {
    this.#groups.set(pgid, grace);
    this.#send(formatCommand({ op: 'watch', pgid, grace }));
  }

  unwatch(pgid: number): void {
    if (this.#groups.delete(pgid)) this.#send(formatCommand({ op: 'unwatch', pgid }));
  }

  /** End the watchdog: it stops the groups still watched (normally none) and exits. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#respawnTimer) clearTimeout(this.#respawnTimer);
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin?.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)))]);
    clearTimeout(timer);
  }

  #send(line: string): void {
    const stdin = this.#child?.stdin;
    if (stdin && !stdin.destroyed) stdin.write(line);
  }

  #spawn(): void {
    this.#startedAt = Date.now();
    // detached: its own process group and session, so a signal to the daemon's group (Ctrl-C,
    // `kill -- -pgid`) cannot end it before it has stopped the replicas.
    const child = spawn(process.execPath, [WATCHDOG_FILE], { detached: true, stdio: ['pipe', 'ignore', 'inherit'] });
    this.#child = child;
    // Neither the process nor its pipe keeps the daemon alive; the pipe closes when the daemon exits.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    child.stdin?.on('error', () => {
      // EPIPE when the watchdog died; 'exit' below starts a new one and tells it everything again.
    });
    child.on('error', (err) => this.#logger?.error('could not start the replica watchdog', { err }));
    child.on('exit', (code, signal) => {
      if (this.#closed || this.#child !== child) return;
      this.#logger?.warn('the replica watchdog exited; starting it again', { code, signal });
      const wait = Math.max(0, this.#startedAt + RESPAWN_MIN_INTERVAL_MS - Date.now());
      this.#respawnTimer = setTimeout(() => {
        this.#respawnTimer = null;
        if (this.#closed) return;
        this.#spawn();
        for (const [pgid, grace] of this.#groups) this.watch(pgid, grace);
      }, wait);
      this.#respawnTimer.unref();
    });
  }
}

let shared: Watchdog | null = null;
let users = 0;

/** The daemon-wide watchdog, started on first use. Pair every call with releaseWatchdog(). */
export function acquireWatchdog(logger?: Logger): Watchdog {
  if (!shared) shared = new Watchdog(logger ? { logger } : {});
  users++;
  return shared;
}

export async function releaseWatchdog(watchdog: Watchdog): Promise<void> {
  if (watchdog !== shared) return;
  users--;
  if (users > 0) return;
  shared = null;
  await watchdog.close();
}
