// The supervisor: the small, long-lived process of a stateDir. It owns the listening sockets (keyed by
// listen address, so one listener can later serve several services), runs every service's router
// processes on them, keeps the last route table each router serves, and keeps the process
// provider's replicas (supervisor-replicas.ts). A service on an edge listener of its own with
// certificate files runs its edge (TLS, HTTP/2, hosts, paths) in those router processes
// (edge/worker.ts), each loading the certificate files and reloading them on change (with ACME, the
// files the controller's ACME client writes, and the challenges it hands over). Controllers
// come and go: they attach over the unix socket (see protocol.ts) and drive the routers and
// replicas through it. With no controller attached
// for `grace` it drains the routers, stops the replicas and exits, so nothing is orphaned for long.
import { unlinkSync } from 'node:fs';
import net from 'node:net';
import { CERTIFICATES_KEY } from '../edge/challenge-sink.ts';
import type { EdgeConfig } from '../edge/host.ts';
import { CutoverError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { joinHostPort, splitHostPort } from '../net/address.ts';
import { WorkerRouterHost } from '../router/workers.ts';
import type { RouterOptions } from '../router/router.ts';
import type { RouteSpec } from '../router/table.ts';
import { type RouterGroupStatus, type Request, socketPath, type SupervisorStatus, type Wire } from './protocol.ts';
import { ChallengeBook } from './supervisor-challenges.ts';
import { ReplicaKeeper } from './supervisor-replicas.ts';

/** A bound socket the supervisor holds but never accepts on: its router processes do. */
interface Listener {
  address: string;
  /** The address it really has: the port the kernel chose when `address` names port 0. */
  bound: string;
  handle: BoundHandle;
  /** Services whose routers listen on it. */
  users: Set<string>;
}

interface Group {
  service: string;
  opts: RouterOptions;
  workers: number;
  /** An edge service's hosts, prefix and certificate files; its workers load the files themselves. */
  edge: EdgeConfig | undefined;
  host: WorkerRouterHost;
  spec: RouteSpec | null;
  listeners: Listener[];
}

interface NodeNetInternals {
  /** Binds without listening (what node's cluster uses to share a socket among workers). */
  _createServerHandle(address: string, port: number, addressType: number, fd?: number, flags?: number): unknown;
}

/**
 * A bound TCP socket as a handle that can be sent to child processes. Not `net.Server.listen()`:
 * that would make the supervisor accept connections itself. The socket enters LISTEN in the first
 * router; the supervisor's copy keeps it open while routers restart, so connections wait in its
 * queue instead of being refused.
 */
interface BoundHandle {
  close(): void;
  getsockname(out: { address?: string; port?: number }): number;
}

function bindHandle(address: string): BoundHandle {
  const { host, port } = splitHostPort(address);
  const family = net.isIP(host);
  if (family === 0) throw new CutoverError('CUTOVER_E_LISTEN', `cannot listen on ${address}: give an IP address, not a name`, 500);
  const r = (net as unknown as NodeNetInternals)._createServerHandle(host, Number(port), family, undefined, 0);
  if (typeof r === 'number') {
    throw new CutoverError('CUTOVER_E_LISTEN', `cannot listen on ${address}: ${codeName(r)}; pick a free address in \`listen\``, 500);
  }
  return r as BoundHandle;
}

function boundAddress(handle: BoundHandle, address: string): string {
  const out: { address?: string; port?: number } = {};
  if (handle.getsockname(out) !== 0 || out.address === undefined || out.port === undefined) return address;
  return joinHostPort(out.address, out.port);
}

function codeName(errno: number): string {
  const names: Record<number, string> = {
    [-98]: 'EADDRINUSE (address in use)',
    [-13]: 'EACCES (permission denied)',
    [-99]: 'EADDRNOTAVAIL',
  };
  return names[errno] ?? `error ${errno}`;
}

export class Supervisor {
  readonly #stateDir: string;
  readonly #log: Logger;
  readonly #listeners = new Map<string, Listener>();
  readonly #groups = new Map<string, Group>();
  readonly #controllers = new Set<net.Socket>();
  readonly #sockets = new Set<net.Socket>();
  readonly #startedAt = new Date().toISOString();
  #server: net.Server | null = null;
  #grace: number;
  #graceTimer: NodeJS.Timeout | null = null;
  #stopping: Promise<void> | null = null;
  /** The drain of each service, for a stop the grace decides. */
  readonly #drain = new Map<string, number>();
  readonly #replicas: ReplicaKeeper;
  /** ACME challenges the controllers' clients have pending, for every edge router process. */
  readonly #challenges = new ChallengeBook();
  /** How often an ACME client replaced its certificate files (what edge routers are told to load again). */
  #certificates = 0;

  constructor(stateDir: string, grace: number, log: Logger) {
    this.#stateDir = stateDir;
    this.#grace = grace;
    this.#log = log;
    // News of replicas goes to the attached controllers; with none attached, the next one asks.
    this.#replicas = new ReplicaKeeper(log.child({ part: 'replicas' }), (news) => {
      const line = `${JSON.stringify(news)}\n`;
      for (const s of this.#controllers) if (!s.destroyed) s.write(line);
    });
  }

  get socketPath(): string {
    return socketPath(this.#stateDir);
  }

  /** Listens on the socket; the grace runs until the first controller attaches. */
  async start(): Promise<void> {
    // Two controllers starting at once may each start a supervisor: the second one leaves.
    const other = await new Promise<boolean>((resolve) => {
      const s = net.connect(this.socketPath, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (other) throw new CutoverError('CUTOVER_E_CONFLICT', `a supervisor already answers on ${this.socketPath}`, 409);
    try {
      unlinkSync(this.socketPath);
    } catch {}
    const server = net.createServer((socket) => this.#serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    this.#server = server;
    this.#armGrace();
    this.#log.info('supervisor started', { pid: process.pid, socket: this.socketPath, grace: this.#grace });
  }

  #markStopped: () => void = () => {};
  /** Done once everything is stopped. */
  readonly stopped = new Promise<void>((resolve) => {
    this.#markStopped = resolve;
  });

  #armGrace(): void {
    if (this.#controllers.size > 0 || this.#stopping !== null) return;
    if (this.#graceTimer !== null) clearTimeout(this.#graceTimer);
    this.#graceTimer = setTimeout(() => {
      this.#log.warn('no controller attached within the grace; draining and stopping everything', { grace: this.#grace });
      void this.stop(Object.fromEntries(this.#drain));
    }, this.#grace);
  }

  #serve(socket: net.Socket): void {
    let buffered = '';
    const reply = (m: Wire): void => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(m)}\n`);
    };
    this.#sockets.add(socket);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
        const line = buffered.slice(0, i);
        buffered = buffered.slice(i + 1);
        let msg: { id: number } & Request;
        try {
          msg = JSON.parse(line);
        } catch {
          socket.destroy();
          return;
        }
        this.#handle(socket, msg).then(
          (result) => reply({ id: msg.id, ok: true, result: result ?? null }),
          (err: unknown) =>
            reply({
              id: msg.id,
              ok: false,
              code: err instanceof CutoverError ? err.code : 'CUTOVER_E_INTERNAL',
              message: err instanceof Error ? err.message : String(err),
            }),
        );
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#sockets.delete(socket);
      if (!this.#controllers.delete(socket)) return;
      this.#log.info('controller detached', { controllers: this.#controllers.size });
      this.#armGrace();
    });
  }

  async #handle(socket: net.Socket, m: Request): Promise<unknown> {
    switch (m.op) {
      case 'attach':
        this.#controllers.add(socket);
        this.#grace = m.grace;
        if (this.#graceTimer !== null) clearTimeout(this.#graceTimer);
        this.#graceTimer = null;
        this.#log.info('controller attached', { controllers: this.#controllers.size });
        return this.status();
      case 'status':
        return this.status();
      case 'routers':
        return this.#ensure(m.service, m.opts, m.workers, m.edge);
      case 'apply': {
        const g = this.#group(m.service);
        g.spec = m.spec;
        await g.host.apply(m.spec);
        return null;
      }
      case 'health':
        this.#group(m.service).host.setHealth(m.address, m.healthy);
        return null;
      case 'metrics':
        return this.#group(m.service).host.metrics();
      case 'retain':
        await Promise.all(
          [...this.#groups.keys()].filter((s) => !m.services.includes(s)).map((s) => this.#closeGroup(this.#groups.get(s)!, m.grace)),
        );
        return null;
      case 'shutdown':
        // Answered before the routers drain; the controller waits for this process to exit.
        setImmediate(() => void this.stop(m.drain));
        return null;
      case 'detach':
        this.#controllers.delete(socket);
        this.#armGrace();
        return null;
      case 'replica-start':
        if (this.#stopping !== null)
          throw new CutoverError('CUTOVER_E_CONFLICT', 'the supervisor is stopping; start cutover up again', 409);
        return this.#replicas.start(m.spec);
      case 'replica-supervise':
        this.#replicas.supervise(m.replica);
        return null;
      case 'replica-stop':
        await this.#replicas.stop(m.replica, m.grace);
        return null;
      case 'replica-log':
        this.#replicas.write(m.path, m.index, m.stream, m.lines);
        return null;
      case 'replicas':
        return this.#replicas.running(m.service);
      case 'challenges': {
        const changes = this.#challenges.replace(m.service, m.challenges);
        const edges = [...this.#groups.values()].filter((g) => g.edge !== undefined);
        await Promise.all(edges.flatMap((g) => changes.map(([key, c]) => g.host.setState(key, c))));
        return null;
      }
      case 'certificates': {
        const edges = [...this.#groups.values()].filter((g) => g.edge !== undefined);
        await Promise.all(edges.map((g) => g.host.setState(CERTIFICATES_KEY, ++this.#certificates)));
        return null;
      }
      default:
        return m satisfies never;
    }
  }

  #group(service: string): Group {
    const g = this.#groups.get(service);
    if (g === undefined) throw new CutoverError('CUTOVER_E_NOT_FOUND', `the supervisor runs no routers for ${service}`, 404);
    return g;
  }

  /**
   * Runs the service's routers: the ones already running when their options are the same (a new
   * controller attaches to them); else new ones on the same listener, and the old ones drain.
   */
  async #ensure(service: string, opts: RouterOptions, workers: number, edge?: EdgeConfig): Promise<RouterGroupStatus> {
    this.#drain.set(service, opts.drain);
    const old = this.#groups.get(service);
    if (
      old !== undefined &&
      old.workers === workers &&
      JSON.stringify(old.opts) === JSON.stringify(opts) &&
      JSON.stringify(old.edge ?? null) === JSON.stringify(edge ?? null)
    )
      return groupStatus(old);
    const listeners = [this.#listen(opts.listen, service)];
    if (opts.previewListen) listeners.push(this.#listen(opts.previewListen, service));
    const host = new WorkerRouterHost(
      opts,
      workers,
      this.#log.child({ service }),
      { listen: listeners[0]!.handle, ...(listeners[1] ? { preview: listeners[1].handle } : {}) },
      edge === undefined ? undefined : { module: new URL('../edge/worker.ts', import.meta.url), extra: { edge } },
    );
    if (edge !== undefined) for (const [key, c] of this.#challenges.all()) void host.setState(key, c);
    const g: Group = { service, opts, workers, edge, host, spec: old?.spec ?? null, listeners };
    try {
      await host.listen();
      if (g.spec !== null) await host.apply(g.spec);
    } catch (err) {
      await host.close(0);
      for (const l of listeners) this.#release(l, service, old);
      throw err;
    }
    this.#groups.set(service, g);
    if (old !== undefined) {
      this.#log.info('routers replaced: the new ones serve, the old ones drain', { service });
      void this.#closeGroup(old, opts.drain, g);
    }
    return groupStatus(g);
  }

  #listen(address: string, service: string): Listener {
    let l = this.#listeners.get(address);
    if (l === undefined) {
      const handle = bindHandle(address);
      l = { address, bound: boundAddress(handle, address), handle, users: new Set() };
      this.#listeners.set(address, l);
    }
    l.users.add(service);
    return l;
  }

  /** Closes a listener nobody uses any more (`keep`: a group that still uses it). */
  #release(l: Listener, service: string, keep?: Group): void {
    if (keep?.listeners.includes(l)) return;
    l.users.delete(service);
    if (l.users.size > 0) return;
    l.handle.close();
    this.#listeners.delete(l.address);
  }

  async #closeGroup(g: Group, grace: number, successor?: Group): Promise<void> {
    if (this.#groups.get(g.service) === g) this.#groups.delete(g.service);
    await g.host.close(grace);
    for (const l of g.listeners) this.#release(l, g.service, successor);
  }

  status(): SupervisorStatus {
    return {
      pid: process.pid,
      startedAt: this.#startedAt,
      controllers: this.#controllers.size,
      routers: [...this.#groups.values()].map(groupStatus),
      replicas: this.#replicas.size,
    };
  }

  /** Drains every router for its service's drain, then stops the replicas, closes the listeners and the socket. */
  stop(drain: Record<string, number>): Promise<void> {
    if (this.#stopping !== null) return this.#stopping;
    if (this.#graceTimer !== null) clearTimeout(this.#graceTimer);
    this.#stopping = (async () => {
      this.#log.info('supervisor stopping: draining routers', { services: [...this.#groups.keys()] });
      // Its controllers tell this stop (on purpose, or the grace) from the supervisor dying.
      const news = `${JSON.stringify({ push: 'stopping', reason: 'the supervisor stops on purpose' })}\n`;
      for (const s of this.#controllers) if (!s.destroyed) s.write(news);
      await Promise.all([...this.#groups.values()].map((g) => this.#closeGroup(g, drain[g.service] ?? 0)));
      // The replicas answer until the last exchange through the routers has ended.
      await this.#replicas.stopAll();
      for (const l of this.#listeners.values()) l.handle.close();
      this.#listeners.clear();
      // Controllers see their socket close only now: the routers are gone and the ports closed.
      for (const s of this.#sockets) s.destroy();
      await new Promise<void>((resolve) => (this.#server === null ? resolve() : this.#server.close(() => resolve())));
      try {
        unlinkSync(this.socketPath);
      } catch {}
      this.#log.info('supervisor stopped');
    })().finally(() => this.#markStopped());
    return this.#stopping;
  }
}

function groupStatus(g: Group): RouterGroupStatus {
  return {
    service: g.service,
    listen: g.listeners[0]?.bound ?? g.opts.listen,
    generation: g.spec?.generation ?? 0,
    processes: g.host.processes(),
  };
}
