// A ring of snapshots of counters that only grow (the router's, a balancer's), so that a window of
// traffic is the difference of two of them: one is taken every `interval` (and one at every
// checkpoint), and a window starts at the newest snapshot taken at or before its start.

export type RingOptions = {
  /** How often a snapshot is taken; the analysis interval is a good value. */
  interval: number;
  /** How far back windows can reach; at least the longest analysis window plus its baseline. */
  retain?: number;
  now?: () => number;
};

export const DEFAULT_RETAIN_MS = 15 * 60_000;
/**
 * Snapshots of the last DENSE_MS are all kept (ticks every 100 ms look back about a second); older
 * ones only SPARSE_MS apart, so a 15-minute ring at a 100 ms interval holds ~900 snapshots, not 9,000.
 * Checkpoints (a run's start) are always kept: a whole-window measurement starts exactly there.
 */
const DENSE_MS = 10_000;
const SPARSE_MS = 1000;

export type RingEntry<T> = { at: number; value: T; pinned?: boolean };

export class SnapshotRing<T> {
  private readonly read: () => T | Promise<T>;
  private readonly interval: number;
  private readonly retain: number;
  private readonly now: () => number;
  private readonly ring: RingEntry<T>[] = [];
  private pending: Promise<RingEntry<T>> | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** ring[0..sparseEnd) is already thinned. */
  private sparseEnd = 1;

  constructor(read: () => T | Promise<T>, opts: RingOptions) {
    this.read = read;
    this.interval = Math.max(1, opts.interval);
    this.retain = opts.retain ?? DEFAULT_RETAIN_MS;
    this.now = opts.now ?? Date.now;
  }

  /** Takes the first snapshot and one every interval after, until close(). */
  async start(): Promise<void> {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      this.take().catch(() => {}); // a missed snapshot only widens a window; measure() reports read errors
    }, this.interval);
    this.timer.unref();
    await this.take();
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** A snapshot now that thinning never drops, so a window starting now starts exactly here. */
  async checkpoint(): Promise<void> {
    (await this.take()).pinned = true;
  }

  /** How many snapshots the ring holds now. */
  get size(): number {
    return this.ring.length;
  }

  /** The newest snapshot taken at or before `since`; the oldest one when the ring does not reach back that far. */
  boundary(since: number, latest: RingEntry<T>): RingEntry<T> {
    const i = this.ring.indexOf(latest);
    for (let j = (i < 0 ? this.ring.length : i) - 1; j >= 0; j--) {
      const e = this.ring[j] as RingEntry<T>;
      if (e.at <= since) return e;
    }
    return this.ring[0] ?? latest;
  }

  /** One snapshot now; callers that ask while a read is running share it. */
  take(): Promise<RingEntry<T>> {
    if (this.pending !== null) return this.pending;
    const p = (async (): Promise<RingEntry<T>> => {
      try {
        const value = await this.read();
        const e: RingEntry<T> = { at: this.now(), value };
        this.ring.push(e);
        const cutoff = e.at - this.retain;
        while (this.ring.length > 2 && (this.ring[1] as RingEntry<T>).at <= cutoff) {
          this.ring.shift();
          this.sparseEnd = Math.max(1, this.sparseEnd - 1);
        }
        this.thin(e.at);
        return e;
      } finally {
        this.pending = null;
      }
    })();
    this.pending = p;
    return p;
  }

  /** Entries older than DENSE_MS that follow the one before them by less than SPARSE_MS go (not pinned ones). */
  private thin(now: number): void {
    if (this.sparseEnd < 1) this.sparseEnd = 1;
    while (this.sparseEnd < this.ring.length - 1) {
      const e = this.ring[this.sparseEnd] as RingEntry<T>;
      if (e.at > now - DENSE_MS) break;
      const prev = this.ring[this.sparseEnd - 1] as RingEntry<T>;
      if (!e.pinned && e.at - prev.at < SPARSE_MS) this.ring.splice(this.sparseEnd, 1);
      else this.sparseEnd++;
    }
  }
}
