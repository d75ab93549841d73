// The supervisor: the small, long-lived process of a stateDir. It owns the listening sockets (by
// listen address, bound-sockets.ts), runs every service's router processes on them, keeps the last
// route table each router serves, and keeps the process provider's replicas (supervisor-replicas.ts).
// A plain service has router processes of its own; edge services (TLS with certificate files,
// HTTP/2, hosts, paths) run in the router processes of their listen address, every one serving
// every service that names it, and the httpRedirect listener with them (supervisor-edges.ts,
// edge/worker.ts); each process loads the certificate files and reloads them on change (with ACME,
// the files the controller's ACME client writes, and the challenges it hands over). Controllers
// come and go, one at a time (a second is refused while the first runs): they attach over the unix
// socket (see protocol.ts) and drive the routers and replicas through it. With no controller
// attached for `grace` it drains the routers, stops the replicas and exits, so nothing is orphaned
// for long.
import { unlinkSync } from 'node:fs';
import net from 'node:net';
import { CERTIFICATES_KEY } from '../edge/challenge-sink.ts';
import type { EdgeConfig } from '../edge/host.ts';
import { CutoverError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { processStartTime } from '../providers/groups.ts';
import { WorkerRouterHost } from '../router/workers.ts';
import type { RouterOptions } from '../router/router.ts';
import type { RouteSpec } from '../router/table.ts';
import { type BoundSocket, BoundSockets } from './bound-sockets.ts';
import { type RouterGroupStatus, type Request, socketPath, type SupervisorStatus, type Wire } from './protocol.ts';
import { ChallengeBook } from './supervisor-challenges.ts';
import { EdgeGroups } from './supervisor-edges.ts';
import { ReplicaKeeper } from './supervisor-replicas.ts';

/** The router processes of a service on a plain listener of its own. */
interface Group {
  /** Its name among the users of the sockets it holds. */
  id: string;
  service: string;
  opts: RouterOptions;
  workers: number;
  host: WorkerRouterHost;
  spec: RouteSpec | null;
  listeners: BoundSocket[];
}

export class Supervisor {
  readonly #stateDir: string;
  readonly #log: Logger;
  readonly #sockets = new BoundSockets();
  readonly #groups = new Map<string, Group>();
  readonly #edges: EdgeGroups;
  #seq = 0;
  /** The attached controller's socket and its pid: one at a time (a restart detaches before the next attaches). */
  readonly #controllers = new Map<net.Socket, number>();
  /** The `routers` ask each service's routers are being started for, so the next one waits for it. */
  readonly #ensuring = new Map<string, Promise<RouterGroupStatus>>();
  readonly #conns = new Set<net.Socket>();
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
    this.#edges = new EdgeGroups(this.#sockets, log.child({ part: 'edge' }));
    // News of replicas goes to the attached controllers; with none attached, the next one asks.
    this.#replicas = new ReplicaKeeper(log.child({ part: 'replicas' }), (news) => {
      const line = `${JSON.stringify(news)}\n`;
      for (const s of this.#controllers.keys()) if (!s.destroyed) s.write(line);
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
    this.#conns.add(socket);
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
      this.#conns.delete(socket);
      if (!this.#controllers.delete(socket)) return;
      this.#log.info('controller detached', { controllers: this.#controllers.size });
      this.#armGrace();
    });
  }

  async #handle(socket: net.Socket, m: Request): Promise<unknown> {
    switch (m.op) {
      case 'attach': {
        // A second controller on a stateDir in use is refused by its store a moment later, but it
        // would first have asked for routers with its own config and replaced the running ones.
        // A controller that died a moment ago may not have had its socket's close handled yet: its pid tells.
        for (const [s, pid] of this.#controllers) {
          if (s === socket || pid === 0 || processStartTime(pid) !== null) continue;
          this.#controllers.delete(s);
          s.destroy();
        }
        const other = [...this.#controllers].find(([s]) => s !== socket && !s.destroyed);
        if (other !== undefined) {
          throw new CutoverError(
            'CUTOVER_E_CONFLICT',
            `another controller (pid ${other[1]}) is attached to the supervisor of this stateDir; stop it (\`kill ${other[1]}\`), or give this one another stateDir`,
            409,
          );
        }
        this.#controllers.set(socket, m.pid ?? 0);
        this.#grace = m.grace;
        if (this.#graceTimer !== null) clearTimeout(this.#graceTimer);
        this.#graceTimer = null;
        this.#log.info('controller attached', { controllers: this.#controllers.size, pid: m.pid });
        return this.status();
      }
      case 'status':
        return this.status();
      case 'routers': {
        // One ask at a time per service: an ask that came while the one before still started its
        // processes must find them, not start a second set on the same listener.
        const before = this.#ensuring.get(m.service)?.catch(() => {}) ?? Promise.resolve();
        const next = before.then(() => this.#ensure(m.service, m.opts, m.workers, m.edge));
        this.#ensuring.set(m.service, next);
        void next
          .catch(() => {})
          .then(() => {
            if (this.#ensuring.get(m.service) === next) this.#ensuring.delete(m.service);
          });
        return next;
      }
      case 'apply': {
        const g = this.#groups.get(m.service);
        if (g === undefined) return this.#edges.apply(m.service, m.spec).then(() => null);
        g.spec = m.spec;
        await g.host.apply(m.spec);
        return null;
      }
      case 'health':
        if (this.#groups.has(m.service)) this.#group(m.service).host.setHealth(m.address, m.healthy);
        else this.#edges.setHealth(m.service, m.address, m.healthy);
        return null;
      case 'metrics':
        return this.#groups.has(m.service) ? this.#group(m.service).host.metrics() : this.#edges.metrics(m.service);
      case 'retain':
        await Promise.all([
          ...[...this.#groups.keys()].filter((s) => !m.services.includes(s)).map((s) => this.#closeGroup(this.#groups.get(s)!, m.grace)),
          ...this.#edges
            .services()
            .filter((s) => !m.services.includes(s))
            .map((s) => this.#edges.remove(s, m.grace)),
        ]);
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
        // Every edge router process gets every challenge (the edge groups keep them for processes started later).
        const changes = this.#challenges.replace(m.service, m.challenges);
        await Promise.all(changes.map(([key, c]) => this.#edges.setState(key, c)));
        return null;
      }
      case 'certificates':
        await this.#edges.setState(CERTIFICATES_KEY, ++this.#certificates);
        return null;
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
   * controller attaches to them); else new ones on the same listener, and the old ones drain. An
   * edge service runs in the routers of its listen address, beside the other services on it
   * (supervisor-edges.ts).
   */
  async #ensure(service: string, opts: RouterOptions, workers: number, edge?: EdgeConfig): Promise<RouterGroupStatus> {
    this.#drain.set(service, opts.drain);
    const old = this.#groups.get(service);
    if (edge !== undefined) {
      const g = await this.#edges.ensure(service, opts, workers, edge, old?.spec ?? null);
      // Its routers until now, on a plain listener of their own, drain.
      if (old !== undefined) void this.#closeGroup(old, opts.drain);
      return g;
    }
    if (old !== undefined && old.workers === workers && JSON.stringify(old.opts) === JSON.stringify(opts)) return groupStatus(old);
    const id = `${service} #${++this.#seq}`;
    const listeners: BoundSocket[] = [];
    try {
      listeners.push(this.#sockets.take(opts.listen, id));
      if (opts.previewListen) listeners.push(this.#sockets.take(opts.previewListen, id));
    } catch (err) {
      for (const l of listeners) this.#sockets.release(l, id);
      throw err;
    }
    const host = new WorkerRouterHost(opts, workers, this.#log.child({ service }), {
      listen: listeners[0]!.handle,
      ...(listeners[1] ? { preview: listeners[1].handle } : {}),
    });
    const g: Group = { id, service, opts, workers, host, spec: old?.spec ?? null, listeners };
    try {
      await host.listen();
      if (g.spec !== null) await host.apply(g.spec);
    } catch (err) {
      await host.close(0);
      for (const l of listeners) this.#sockets.release(l, id);
      throw err;
    }
    this.#groups.set(service, g);
    if (old !== undefined) {
      this.#log.info('routers replaced: the new ones serve, the old ones drain', { service });
      void this.#closeGroup(old, opts.drain);
    }
    // Its routers until now, on an edge listener, let it go.
    if (this.#edges.has(service)) void this.#edges.remove(service, opts.drain);
    return groupStatus(g);
  }

  async #closeGroup(g: Group, grace: number): Promise<void> {
    if (this.#groups.get(g.service) === g) this.#groups.delete(g.service);
    await g.host.close(grace);
    for (const l of g.listeners) this.#sockets.release(l, g.id);
  }

  status(): SupervisorStatus {
    return {
      pid: process.pid,
      startedAt: this.#startedAt,
      controllers: this.#controllers.size,
      routers: [...[...this.#groups.values()].map(groupStatus), ...this.#edges.statuses()],
      replicas: this.#replicas.size,
    };
  }

  /** Drains every router for its service's drain, then stops the replicas, closes the listeners and the socket. */
  stop(drain: Record<string, number>): Promise<void> {
    if (this.#stopping !== null) return this.#stopping;
    if (this.#graceTimer !== null) clearTimeout(this.#graceTimer);
    this.#stopping = (async () => {
      this.#log.info('supervisor stopping: draining routers', { services: [...this.#groups.keys(), ...this.#edges.services()] });
      // Its controllers tell this stop (on purpose, or the grace) from the supervisor dying.
      const news = `${JSON.stringify({ push: 'stopping', reason: 'the supervisor stops on purpose' })}\n`;
      for (const s of this.#controllers.keys()) if (!s.destroyed) s.write(news);
      await Promise.all([
        ...[...this.#groups.values()].map((g) => this.#closeGroup(g, drain[g.service] ?? 0)),
        this.#edges.closeAll(drain),
      ]);
      // The replicas answer until the last exchange through the routers has ended.
      await this.#replicas.stopAll();
      this.#sockets.closeAll();
      // Controllers see their socket close only now: the routers are gone and the ports closed.
      for (const s of this.#conns) s.destroy();
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
