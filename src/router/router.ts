// The embedded router of one service: a listener, the current route table, the targets' connection
// pools, and the sweep that enforces every deadline. A switch is `apply(spec)`: one reference swap.
import diagnostics from 'node:diagnostics_channel';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { SlotName } from '../config/types.ts';
import { CutoverError } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import { ClientConn, type ConnHost, type ConnOptions } from './conn.ts';
import { addSnapshot, emptySnapshot, type SlotMetricsSnapshot } from './metrics.ts';
import { splitHostPort } from '../net/address.ts';
import { HoldQueue } from './maintenance.ts';
import { ownResponse } from './pages.ts';
import { MAX_MIRRORS_IN_FLIGHT, MirrorRequest } from './mirror.ts';
import { SlotPool, Target } from './pool.ts';
import { buildTable, emptySpec, type RouteSpec, type RouteTable } from './table.ts';

const LISTEN_BACKLOG = 2048;

/** Listening sockets another process owns and handed over (the main listener, the preview one). */
export interface ListenHandles {
  listen?: object;
  preview?: object;
}

export interface RouterOptions extends ConnOptions {
  service: string;
  listen: string;
  /** Share the listening port with sibling worker processes (SO_REUSEPORT). */
  reusePort: boolean;
  drain: number;
  upstreamIdle: number;
  maxIdlePerTarget: number;
  /** Optional second listener on which every request goes to the slot in preview. */
  previewListen?: string;
  /** Peers (CIDRs or addresses) whose X-Forwarded-*, Forwarded and X-Real-IP are appended to, not replaced. */
  trustedProxies: string[];
  /** Most client connections open at once per listener (0: no limit); beyond it a connection gets 503 and is closed. */
  maxConnections: number;
}

/** Published for every upstream failure ({ service, slot, target, status, detail }), for tracing tools. */
export const upstreamErrorChannel = diagnostics.channel('cutover:router:upstream-error');
/** At most one log line per this many ms for upstream failures; the rest are counted in the next line. */
const UPSTREAM_LOG_EVERY_MS = 1000;

/** A BlockList of the trusted proxies; throws a coded error on an entry that is neither an address nor a CIDR. */
export function trustList(entries: string[]): net.BlockList {
  const list = new net.BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf('/');
    const address = slash < 0 ? entry : entry.slice(0, slash);
    const family = net.isIPv4(address) ? 'ipv4' : net.isIPv6(address) ? 'ipv6' : null;
    const prefix = slash < 0 ? (family === 'ipv4' ? 32 : 128) : Number(entry.slice(slash + 1));
    if (family === null || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 'ipv4' ? 32 : 128)) {
      throw new CutoverError(
        'CUTOVER_E_CONFIG_INVALID',
        `trustedProxies: ${JSON.stringify(entry)} is not an address or CIDR; write one like 10.0.0.0/8 or ::1`,
        400,
      );
    }
    list.addSubnet(address, prefix, family);
  }
  return list;
}

export interface RouterMetrics {
  generation: number;
  slots: Record<SlotName, SlotMetricsSnapshot>;
  connections: number;
}

export class Router implements ConnHost {
  table: RouteTable;
  readonly opts: RouterOptions;
  readonly conns = new Set<ClientConn>();
  /** Users' requests waiting while the service is paused. */
  readonly holds: HoldQueue;
  private readonly targets = new Map<string, Target>();
  private readonly health = new Map<string, boolean>();
  private readonly server: net.Server;
  private readonly previewServer: net.Server | null;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly mirrors = new Set<MirrorRequest>();
  private readonly trusted: net.BlockList;
  private readonly hasTrusted: boolean;
  private readonly log: Logger;
  private lastUpstreamLog = 0;
  private suppressedUpstreamLogs = 0;
  /** Counters of pools a table no longer holds, so per-slot totals never go backwards. */
  private readonly retired: Record<SlotName, SlotMetricsSnapshot> = { blue: emptySnapshot(), green: emptySnapshot() };

  constructor(opts: RouterOptions) {
    this.opts = opts;
    this.holds = new HoldQueue(opts.pages);
    this.trusted = trustList(opts.trustedProxies);
    this.hasTrusted = opts.trustedProxies.length > 0;
    this.log = createLogger().child({ component: 'router', service: opts.service });
    const spec = emptySpec(opts.service);
    this.table = buildTable(spec, new SlotPool('blue', []), new SlotPool('green', []));
    this.server = net.createServer({ noDelay: true }, this.acceptor(false));
    this.server.on('error', () => {});
    this.previewServer = opts.previewListen ? net.createServer({ noDelay: true }, this.acceptor(true)) : null;
    this.previewServer?.on('error', () => {});
    const tick = Math.max(25, Math.min(1000, Math.min(opts.headersTimeout, opts.idleTimeout, opts.responseTimeout) / 4));
    this.sweepTimer = setInterval(() => this.sweep(), tick);
    this.sweepTimer.unref();
  }

  /**
   * Listens on the configured addresses, or on listeners handed over by the process that owns them
   * (the supervisor keeps them open, so a router that restarts loses no connection waiting in them).
   */
  async listen(handles: ListenHandles = {}): Promise<{ host: string; port: number }> {
    await this.listenOn(this.server, this.opts.listen, 'listen', handles.listen);
    await this.listenPreview(handles.preview);
    const addr = this.server.address() as net.AddressInfo;
    return { host: addr.address, port: addr.port };
  }

  /** The preview listener alone: on an edge listener (src/edge/) the service has no socket of its own. */
  async listenPreview(handle?: object): Promise<void> {
    if (this.previewServer !== null && this.opts.previewListen)
      await this.listenOn(this.previewServer, this.opts.previewListen, 'preview.listen', handle);
  }

  private listenOn(server: net.Server, address: string, key: string, handle?: object): Promise<void> {
    const { host, port } = splitHostPort(address);
    return new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(
          new CutoverError(
            'CUTOVER_E_LISTEN',
            `service ${this.opts.service} cannot listen on ${address}: ${err.message}; pick a free address in \`${key}\``,
            500,
            { cause: err },
          ),
        );
      };
      server.once('error', onError);
      const done = (): void => {
        server.off('error', onError);
        resolve();
      };
      if (handle !== undefined) server.listen(handle, LISTEN_BACKLOG, done);
      else server.listen({ host, port, reusePort: this.opts.reusePort, backlog: LISTEN_BACKLOG }, done);
    });
  }

  /** Accepts a connection on one listener, within its `maxConnections`. */
  private acceptor(preview: boolean): (socket: net.Socket) => void {
    const max = this.opts.maxConnections;
    let open = 0;
    return (socket) => {
      if (max > 0) {
        if (open >= max) {
          // A clean refusal the client can read, then the socket goes (whatever the client still sends).
          socket.on('error', () => {});
          socket.resume();
          socket.setTimeout(1000, () => socket.destroy());
          socket.end(ownResponse(this.opts.pages, 503, 'too many connections on this listener: try again shortly', true), 'latin1');
          return;
        }
        open++;
        socket.once('close', () => open--);
      }
      new ClientConn(this, socket, preview);
    };
  }

  isTrusted(address: string): boolean {
    if (!this.hasTrusted || address === '') return false;
    return this.trusted.check(address, net.isIPv4(address) ? 'ipv4' : 'ipv6');
  }

  upstreamFailed(slot: string, target: string, status: number, detail: string): void {
    if (upstreamErrorChannel.hasSubscribers) upstreamErrorChannel.publish({ service: this.opts.service, slot, target, status, detail });
    const now = performance.now();
    if (now - this.lastUpstreamLog < UPSTREAM_LOG_EVERY_MS) {
      this.suppressedUpstreamLogs++;
      return;
    }
    this.lastUpstreamLog = now;
    const suppressed = this.suppressedUpstreamLogs;
    this.suppressedUpstreamLogs = 0;
    this.log.warn(`upstream ${target} of slot ${slot} failed: ${detail}; the client got ${status}`, { slot, target, status, suppressed });
  }

  /** A copy of a live request for the mirror slot; skipped when too many copies are already running. */
  mirror(pool: SlotPool, head: string): void {
    if (this.mirrors.size >= MAX_MIRRORS_IN_FLIGHT) return;
    const target = pool.pick();
    if (target === null) return;
    const m: MirrorRequest = new MirrorRequest(pool, target, head, this.opts.connectTimeout, this.opts.responseTimeout, () =>
      this.mirrors.delete(m),
    );
    this.mirrors.add(m);
  }

  /** Installs a new route table. Requests already running keep the slot they started on. */
  apply(spec: RouteSpec): void {
    const old = this.table;
    if (spec.generation < old.generation) return; // never go back to an older table
    const blue = this.poolFor('blue', spec.slots.blue.targets, old.blue);
    const green = this.poolFor('green', spec.slots.green.targets, old.green);
    const next = buildTable(spec, blue, green, old);
    this.table = next;
    for (const slot of ['blue', 'green'] as const) {
      const before = old[slot];
      const after = next[slot];
      const hadTraffic = carries(old, slot);
      const hasTraffic = carries(next, slot);
      if (before !== after) {
        if (hadTraffic || before.active.size > 0) before.startDrain(this.opts.drain);
        const snap = before.metrics.snapshot();
        snap.inFlight = 0;
        this.retired[slot] = addSnapshot(this.retired[slot], snap);
      }
      if (hasTraffic) after.cancelDrain();
      else if (hadTraffic) after.startDrain(this.opts.drain);
    }
    this.forgetUnusedTargets();
    // Once the new table is in place: a resume sends the waiting requests on under it.
    if (old.held || next.held) this.holds.onTable(next);
  }

  private poolFor(slot: SlotName, addresses: string[], current: SlotPool): SlotPool {
    if (
      sameList(
        current.targets.map((t) => t.address),
        addresses,
      )
    )
      return current;
    return new SlotPool(
      slot,
      addresses.map((a) => this.target(a)),
    );
  }

  private target(address: string): Target {
    let t = this.targets.get(address);
    if (t === undefined) {
      t = new Target(address, { maxIdle: this.opts.maxIdlePerTarget, idleTimeout: this.opts.upstreamIdle });
      t.healthy = this.health.get(address) ?? false;
      this.targets.set(address, t);
    }
    return t;
  }

  private forgetUnusedTargets(): void {
    const used = new Set<string>();
    for (const t of this.table.blue.targets) used.add(t.address);
    for (const t of this.table.green.targets) used.add(t.address);
    for (const [address, t] of this.targets) {
      if (!used.has(address)) {
        t.closeIdle();
        this.targets.delete(address);
      }
    }
  }

  /** Health comes from the one health checker of the daemon, so every worker agrees. */
  setHealth(address: string, healthy: boolean): void {
    this.health.set(address, healthy);
    const t = this.targets.get(address);
    if (t !== undefined) t.healthy = healthy;
  }

  metrics(): RouterMetrics {
    return {
      generation: this.table.generation,
      slots: {
        blue: addSnapshot(this.table.blue.snapshot(), this.retired.blue),
        green: addSnapshot(this.table.green.snapshot(), this.retired.green),
      },
      connections: this.conns.size,
    };
  }

  private sweep(): void {
    const now = performance.now();
    for (const c of this.conns) if (c.deadline !== 0 && now >= c.deadline) c.onDeadline();
    for (const t of this.targets.values()) t.sweep(now);
    this.holds.sweep(now);
  }

  /** Stops accepting, lets running exchanges finish for up to `grace` ms, then closes the rest. */
  async close(grace = 0): Promise<void> {
    clearInterval(this.sweepTimer);
    this.holds.close();
    this.previewServer?.close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const deadline = Date.now() + grace;
    while (Date.now() < deadline && [...this.conns].some((c) => c.busy())) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.conns) c.destroy();
    for (const t of this.targets.values()) t.closeIdle();
    await closed;
  }
}

function carries(table: RouteTable, slot: SlotName): boolean {
  return table.hasTraffic && (table.only === table[slot] || (table.only === null && table.spec.weights[slot] > 0));
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
