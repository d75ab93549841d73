// Mirroring: a copy of a live GET/HEAD request goes to the idle slot and its answer is read and
// dropped. It has its own connection and owner, so it can never slow or fail the live request; the
// idle slot's counters get its status and latency, which the mirror gate compares with the live slot's.
import { performance } from 'node:perf_hooks';
import type { SlotPool, Target, Upstream, UpstreamOwner } from './pool.ts';

/** Mirrors in flight at once, per router; beyond this a copy is skipped rather than queued. */
export const MAX_MIRRORS_IN_FLIGHT = 64;

export class MirrorRequest implements UpstreamOwner {
  private readonly pool: SlotPool;
  private readonly head: string;
  private readonly start = performance.now();
  private readonly done: () => void;
  private status = 0;
  private headSeen = '';
  private finished = false;
  private readonly up: Upstream;
  private readonly timer: NodeJS.Timeout;

  constructor(pool: SlotPool, target: Target, head: string, connectTimeout: number, responseTimeout: number, done: () => void) {
    this.pool = pool;
    // One connection per copy, closed by the upstream after its answer: nothing to keep in sync.
    this.head = head.replace(/\r\n\r\n$/, '\r\nx-cutover-mirror: 1\r\nconnection: close\r\n\r\n');
    this.done = done;
    pool.metrics.inFlight++;
    this.up = target.connectFresh(this, connectTimeout);
    // A copy never outlives the response timeout, whatever the idle slot does.
    this.timer = setTimeout(() => {
      this.abort();
      this.up.destroy();
    }, responseTimeout);
    this.timer.unref();
  }

  onUpstreamConnect(up: Upstream): void {
    up.socket.write(this.head, 'latin1');
  }

  onUpstreamData(_up: Upstream, chunk: Buffer): void {
    if (this.status !== 0) return;
    this.headSeen += chunk.toString('latin1', 0, Math.min(chunk.length, 64));
    if (this.headSeen.length >= 12) {
      const status = Number(this.headSeen.slice(9, 12));
      this.status = Number.isInteger(status) && status >= 100 && status < 600 ? status : 502;
      this.finish(false);
    }
  }

  onUpstreamEnd(_up: Upstream): void {}

  onUpstreamDrain(_up: Upstream): void {}

  onUpstreamClose(_up: Upstream, _err: Error | null): void {
    clearTimeout(this.timer);
    if (this.status === 0) this.finish(true);
  }

  /** Kills a copy that takes too long, counted as an upstream error of the idle slot. */
  abort(): void {
    if (!this.finished) this.finish(true);
  }

  private finish(failed: boolean): void {
    if (this.finished) return;
    this.finished = true;
    const m = this.pool.metrics;
    m.inFlight--;
    if (failed) {
      m.upstreamErrors++;
      m.record(502, performance.now() - this.start);
    } else {
      m.record(this.status, performance.now() - this.start);
    }
    this.done();
  }
}
