// Upstream side of the router: a target's keep-alive connections, and a slot's balancer over its targets.
import net from 'node:net';
import type { SlotName } from '../config/types.ts';
import { BUCKETS, bucketOf, SlotMetrics, type SlotMetricsSnapshot } from './metrics.ts';
import { splitHostPort } from '../net/address.ts';

/** What owns an upstream connection while a request uses it. */
export interface UpstreamOwner {
  onUpstreamConnect(up: Upstream): void;
  onUpstreamData(up: Upstream, chunk: Buffer): void;
  onUpstreamEnd(up: Upstream): void;
  onUpstreamClose(up: Upstream, err: Error | null): void;
  onUpstreamDrain(up: Upstream): void;
  /**
   * True when the owner is done with every chunk when onUpstreamData returns, or calls
   * `up.keepRead()` when it is not: it then gets views of the connection's one read buffer instead
   * of a copy of each read.
   */
  readonly borrowsReads?: boolean;
}

/**
 * An upstream connection reads into a buffer of its own (net's `onread`): small at first, since
 * most answers are, and Node's own 64 KiB once a read fills it (a large body).
 */
const READ_SMALL = 8192;
const READ_LARGE = 65536;

/** One TCP connection to a target. Its listeners are set once and forward to the current owner. */
export class Upstream {
  readonly socket: net.Socket;
  readonly target: Target;
  owner: UpstreamOwner | null;
  connected = false;
  /** True once it has carried a response: a failure before any byte may be the keep-alive race. */
  reused = false;
  idleSince = 0;
  closed = false;
  private error: Error | null = null;

  /**
   * What the connection reads into (net's `onread`: no Readable stream, no buffer made per read). It
   * is reused for the next read unless the chunk handed out is still referenced (`keepRead`).
   */
  private readBuf = Buffer.allocUnsafeSlow(READ_SMALL);
  private readKept = false;
  private readFull = false;

  constructor(target: Target, owner: UpstreamOwner, connectTimeout: number) {
    this.target = target;
    this.owner = owner;
    const socket = net.connect({
      host: target.host,
      port: target.port,
      noDelay: true,
      onread: { buffer: () => this.nextReadBuffer(), callback: (n: number, buf: Uint8Array) => this.onRead(n, buf as Buffer) },
    });
    this.socket = socket;
    socket.setTimeout(connectTimeout);
    socket.on('connect', () => {
      this.connected = true;
      socket.setTimeout(0);
      this.owner?.onUpstreamConnect(this);
    });
    socket.on('timeout', () => {
      if (!this.connected) {
        const err = new Error('upstream connect timeout') as Error & { code: string };
        err.code = 'ETIMEDOUT';
        socket.destroy(err);
      }
    });
    socket.on('end', () => {
      if (this.owner !== null) this.owner.onUpstreamEnd(this);
    });
    socket.on('drain', () => {
      if (this.owner !== null) this.owner.onUpstreamDrain(this);
    });
    socket.on('error', (err: Error) => {
      this.error = err;
    });
    socket.on('close', () => {
      this.closed = true;
      target.forget(this);
      const owner = this.owner;
      this.owner = null;
      if (owner !== null) owner.onUpstreamClose(this, this.error);
    });
    target.open++;
  }

  private onRead(n: number, buf: Buffer): boolean {
    const owner = this.owner;
    if (owner === null) {
      this.socket.destroy(); // bytes nobody asked for: this connection can't be trusted for the next request
      return false;
    }
    if (n === buf.length && n < READ_LARGE) this.readFull = true;
    const chunk = buf.subarray(0, n);
    owner.onUpstreamData(this, owner.borrowsReads === true ? chunk : Buffer.from(chunk));
    return true;
  }

  private nextReadBuffer(): Buffer {
    if (this.readKept || this.readFull) {
      this.readBuf = Buffer.allocUnsafeSlow(this.readFull || this.readBuf.length === READ_LARGE ? READ_LARGE : READ_SMALL);
      this.readKept = false;
      this.readFull = false;
    }
    return this.readBuf;
  }

  /** The chunk just handed to the owner stays referenced (a queued write, a parsed head): the next read goes to a new buffer. */
  keepRead(): void {
    this.readKept = true;
  }

  destroy(): void {
    this.owner = null;
    if (!this.closed) this.socket.destroy();
  }
}

/** One upstream address with its idle keep-alive connections (newest last, taken first). */
export class Target {
  readonly address: string;
  readonly host: string;
  readonly port: number;
  healthy = false;
  open = 0;
  private readonly idle: Upstream[] = [];
  private readonly maxIdle: number;
  private readonly idleTimeout: number;

  constructor(address: string, opts: { maxIdle: number; idleTimeout: number }) {
    this.address = address;
    ({ host: this.host, port: this.port } = splitHostPort(address));
    this.maxIdle = opts.maxIdle;
    this.idleTimeout = opts.idleTimeout;
  }

  /** A connection for `owner`: an idle one (connected, ready now) or a new one (owner hears onUpstreamConnect). */
  acquire(owner: UpstreamOwner, now: number, connectTimeout: number): Upstream {
    while (this.idle.length > 0) {
      const up = this.idle.pop() as Upstream;
      if (up.closed) continue;
      if (now - up.idleSince > this.idleTimeout) {
        up.destroy();
        continue;
      }
      up.owner = owner;
      if (up.socket.isPaused()) up.socket.resume();
      return up;
    }
    return new Upstream(this, owner, connectTimeout);
  }

  /** A new connection that never goes back to the pool (mirrored requests). */
  connectFresh(owner: UpstreamOwner, connectTimeout: number): Upstream {
    return new Upstream(this, owner, connectTimeout);
  }

  /** Takes a connection back after a complete response on a keep-alive exchange. */
  release(up: Upstream, now: number): void {
    up.owner = null;
    up.reused = true;
    if (up.closed || this.idle.length >= this.maxIdle) {
      up.destroy();
      return;
    }
    up.idleSince = now;
    this.idle.push(up);
  }

  /** Closes idle connections older than the idle timeout (called by the router's sweep). */
  sweep(now: number): void {
    if (this.idle.length === 0) return;
    const keep = this.idle.filter((up) => !up.closed && now - up.idleSince <= this.idleTimeout);
    for (const up of this.idle) if (!keep.includes(up)) up.destroy();
    this.idle.length = 0;
    this.idle.push(...keep);
  }

  forget(up: Upstream): void {
    this.open--;
    const i = this.idle.indexOf(up);
    if (i >= 0) this.idle.splice(i, 1);
  }

  closeIdle(): void {
    for (const up of this.idle.splice(0)) up.destroy();
  }

  idleCount(): number {
    return this.idle.length;
  }
}

/** Something long-lived on a slot (a tunnel, a streaming response) that a drain must end. */
export interface Drainable {
  drainClose(): void;
  /** When its counted exchange began (performance.now()), or -1 when it has none (a tunnel). */
  runningSince(): number;
}

/** A slot's targets and its per-slot counters. Round robin over the healthy targets. */
export class SlotPool {
  readonly slot: SlotName;
  readonly targets: Target[];
  readonly metrics = new SlotMetrics();
  /** Exchanges and tunnels in progress on this slot, for the drain. */
  readonly active = new Set<Drainable>();
  private rr = 0;
  private drainTimer: NodeJS.Timeout | null = null;

  constructor(slot: SlotName, targets: Target[]) {
    this.slot = slot;
    this.targets = targets;
  }

  pick(exclude: Target | null = null): Target | null {
    const n = this.targets.length;
    for (let k = 0; k < n; k++) {
      const t = this.targets[this.rr++ % n] as Target;
      if (t.healthy && t !== exclude) return t;
    }
    return null;
  }

  healthyCount(): number {
    let c = 0;
    for (const t of this.targets) if (t.healthy) c++;
    return c;
  }

  /** No new traffic comes here: what is still running gets `ms` to finish, then is closed cleanly. */
  startDrain(ms: number): void {
    if (this.drainTimer !== null) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = null;
      for (const d of [...this.active]) d.drainClose();
    }, ms);
    this.drainTimer.unref();
  }

  cancelDrain(): void {
    if (this.drainTimer !== null) clearTimeout(this.drainTimer);
    this.drainTimer = null;
  }

  draining(): boolean {
    return this.drainTimer !== null;
  }

  /**
   * The counters, with how long the requests in flight have been running: a latency rule can then
   * count a request that is already slower than its threshold before its answer comes. One pass over
   * the exchanges in progress, done only when the analysis reads (every interval), never per request.
   */
  snapshot(now = performance.now()): SlotMetricsSnapshot {
    const snap = this.metrics.snapshot();
    const ages = new Array<number>(BUCKETS).fill(0);
    for (const d of this.active) {
      const since = d.runningSince();
      if (since >= 0) ages[bucketOf(now - since)]!++;
    }
    snap.inFlightAge = ages;
    return snap;
  }
}
