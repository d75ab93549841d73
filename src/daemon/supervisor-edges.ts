// The supervisor's edge listeners, keyed by listen address: one group of router processes
// (edge/worker-group.ts) per address serves every service that names it, each picked per request by
// host and path. A service joins the running processes (they are handed its preview socket and the
// httpRedirect one if it needs them); asked again for what already runs (a controller that starts
// again) it is adopted as it is; one that leaves is drained out of them, and the last to leave
// closes the listener. A group whose worker count or a service's options change is replaced: new
// processes on the same sockets serve every service with its route table and target health, and
// the old ones drain. The httpRedirect socket is handed to the processes of every TLS listener that
// uses it, each told every TLS service's https port (REDIRECT_ROUTES_KEY), so whichever accepts a
// connection redirects it to the right listener.
import type { EdgeConfig } from '../edge/host.ts';
import { normalisePrefix } from '../edge/match.ts';
import { REDIRECT_ROUTES_KEY, type RedirectRoute } from '../edge/redirect.ts';
import { type EdgeServiceState, EdgeWorkerGroup } from '../edge/worker-group.ts';
import { CutoverError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { splitHostPort } from '../net/address.ts';
import type { RouterMetrics, RouterOptions } from '../router/router.ts';
import type { RouteSpec } from '../router/table.ts';
import type { BoundSocket, BoundSockets } from './bound-sockets.ts';
import type { RouterGroupStatus } from './protocol.ts';

interface EdgeGroup {
  /** Its name among the users of the sockets it holds. */
  id: string;
  listen: string;
  host: EdgeWorkerGroup;
  /** Every socket its processes were handed, by address: the listener, httpRedirect, previews. */
  sockets: Map<string, BoundSocket>;
}

/** The sockets a service on an edge listener needs: the listener, its preview one, and httpRedirect with TLS. */
function addressesOf(s: { opts: RouterOptions; edge: EdgeConfig }): string[] {
  const out = [s.opts.listen];
  if (s.opts.previewListen) out.push(s.opts.previewListen);
  if (s.edge.tls !== undefined && s.edge.httpRedirect !== undefined) out.push(s.edge.httpRedirect);
  return out;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export class EdgeGroups {
  readonly #sockets: BoundSockets;
  readonly #log: Logger;
  readonly #groups = new Map<string, EdgeGroup>();
  /** Groups whose processes are starting (not in #groups yet): state handed meanwhile reaches them too. */
  readonly #starting = new Set<EdgeGroup>();
  #seq = 0;
  /** Keyed state every edge router process is handed (ACME challenges), again to processes started later. */
  readonly #state = new Map<string, unknown>();
  /** Joins, replacements and leaves run one at a time: two services asking for one new listener at once get one group. */
  #lock: Promise<unknown> = Promise.resolve();

  constructor(sockets: BoundSockets, log: Logger) {
    this.#sockets = sockets;
    this.#log = log;
  }

  has(service: string): boolean {
    return this.#of(service) !== undefined;
  }

  /**
   * Runs the service on the edge listener of its `listen`; `carry`: the route table it served
   * elsewhere (its routers until now on a listener of their own).
   */
  ensure(service: string, opts: RouterOptions, workers: number, edge: EdgeConfig, carry: RouteSpec | null): Promise<RouterGroupStatus> {
    return this.#serial(async () => {
      const g = await this.#ensure(service, opts, workers, edge, carry);
      await this.#publishRoutes();
      return g;
    });
  }

  async #ensure(
    service: string,
    opts: RouterOptions,
    workers: number,
    edge: EdgeConfig,
    carry: RouteSpec | null,
  ): Promise<RouterGroupStatus> {
    const key = opts.listen;
    const g = this.#groups.get(key);
    const current = g?.host.state(service);
    if (g !== undefined && current !== undefined && g.host.count === workers && same(current.opts, opts) && same(current.edge, edge))
      return this.#status(g, service);
    const elsewhere = this.#of(service);
    const was = elsewhere?.host.state(service);
    const state: EdgeServiceState = { opts, edge, spec: was?.spec ?? carry, health: new Map(was?.health ?? []) };
    if (g !== undefined && g.host.count === workers && current === undefined) {
      // Joins the processes already serving the listener: the other services are not touched.
      try {
        for (const address of addressesOf(state)) this.#hand(g, address);
        await g.host.add(service, state);
      } catch (err) {
        await g.host.remove(service, 0);
        this.#prune(g);
        throw err;
      }
      this.#log.info('service joined the edge listener', { service, listen: key, services: g.host.services() });
    } else {
      const entries: [string, EdgeServiceState][] = g === undefined ? [] : g.host.services().map((s) => [s, g.host.state(s)!]);
      const next = await this.#start(key, workers, [...entries.filter(([s]) => s !== service), [service, state]]);
      this.#groups.set(key, next);
      if (g !== undefined) {
        this.#log.info('edge routers replaced: the new ones serve, the old ones drain', { listen: key, services: next.host.services() });
        void this.#close(g, opts.drain);
      }
    }
    if (elsewhere !== undefined && elsewhere !== g) void this.#leave(elsewhere, service, opts.drain).then(() => this.#publishRoutes());
    return this.#status(this.#groups.get(key)!, service);
  }

  /** The service leaves its listener; its exchanges in flight get `grace` to end. */
  remove(service: string, grace: number): Promise<void> {
    return this.#serial(async () => {
      const g = this.#of(service);
      if (g !== undefined) await this.#leave(g, service, grace);
      await this.#publishRoutes();
    });
  }

  apply(service: string, spec: RouteSpec): Promise<void> {
    return this.#need(service).host.apply(service, spec);
  }

  setHealth(service: string, address: string, healthy: boolean): void {
    this.#need(service).host.setHealth(service, address, healthy);
  }

  metrics(service: string): Promise<RouterMetrics> {
    return this.#need(service).host.metrics(service);
  }

  services(): string[] {
    return [...this.#groups.values()].flatMap((g) => g.host.services());
  }

  /** Hands `value` under `key` (null removes it) to every edge router process, now and later. */
  async setState(key: string, value: unknown): Promise<void> {
    if (value === null) this.#state.delete(key);
    else this.#state.set(key, value);
    await Promise.all([...this.#groups.values(), ...this.#starting].map((g) => g.host.setState(key, value)));
  }

  /** One entry per service: the processes of its listener, with the generation each serves of it. */
  statuses(): RouterGroupStatus[] {
    return [...this.#groups.values()].flatMap((g) => g.host.services().map((s) => this.#status(g, s)));
  }

  /** Drains every listener (for the longest drain among its services) and stops its processes. */
  async closeAll(drain: Record<string, number>): Promise<void> {
    const all = [...this.#groups.values()];
    this.#groups.clear();
    await Promise.all(all.map((g) => this.#close(g, Math.max(0, ...g.host.services().map((s) => drain[s] ?? 0)))));
  }

  /** Tells every process where each TLS service is served, when that changed (for httpRedirect). */
  async #publishRoutes(): Promise<void> {
    const routes: RedirectRoute[] = [];
    for (const g of this.#groups.values()) {
      const bound = g.sockets.get(g.listen)?.bound;
      if (bound === undefined) continue;
      const port = Number(splitHostPort(bound).port);
      for (const service of g.host.services()) {
        const { edge } = g.host.state(service)!;
        if (edge.tls === undefined) continue;
        routes.push({ service, hosts: edge.hosts.map((h) => h.toLowerCase()), pathPrefix: normalisePrefix(edge.pathPrefix), port });
      }
    }
    if (JSON.stringify(routes) === JSON.stringify(this.#state.get(REDIRECT_ROUTES_KEY) ?? [])) return;
    await this.setState(REDIRECT_ROUTES_KEY, routes);
  }

  #serial<T>(step: () => Promise<T>): Promise<T> {
    const next = this.#lock.then(step, step);
    this.#lock = next.catch(() => {});
    return next;
  }

  #of(service: string): EdgeGroup | undefined {
    for (const g of this.#groups.values()) if (g.host.state(service) !== undefined) return g;
    return undefined;
  }

  #need(service: string): EdgeGroup {
    const g = this.#of(service);
    if (g === undefined) throw new CutoverError('CUTOVER_E_NOT_FOUND', `the supervisor runs no routers for ${service}`, 404);
    return g;
  }

  #status(g: EdgeGroup, service: string): RouterGroupStatus {
    return {
      service,
      listen: g.sockets.get(g.listen)?.bound ?? g.listen,
      generation: g.host.state(service)?.spec?.generation ?? 0,
      processes: g.host.processes(service),
    };
  }

  /** Binds (or shares) a socket and hands it to the group's processes. */
  #hand(g: EdgeGroup, address: string): void {
    if (g.sockets.has(address)) return;
    const l = this.#sockets.take(address, g.id);
    g.sockets.set(address, l);
    g.host.addSocket(address, l.handle);
  }

  /** Lets go of the sockets no service of the group needs any more (the processes close their copies as services leave). */
  #prune(g: EdgeGroup): void {
    const wanted = new Set(g.host.services().flatMap((s) => addressesOf(g.host.state(s)!)));
    wanted.add(g.listen);
    for (const [address, l] of g.sockets) {
      if (wanted.has(address)) continue;
      g.sockets.delete(address);
      this.#sockets.release(l, g.id);
    }
  }

  async #start(key: string, workers: number, entries: [string, EdgeServiceState][]): Promise<EdgeGroup> {
    const id = `edge ${key} #${++this.#seq}`;
    const sockets = new Map<string, BoundSocket>();
    const host = new EdgeWorkerGroup(workers, this.#log.child({ listen: key }), new Map());
    const g: EdgeGroup = { id, listen: key, host, sockets };
    for (const [k, value] of this.#state) void host.setState(k, value);
    this.#starting.add(g);
    try {
      for (const [, s] of entries) for (const address of addressesOf(s)) this.#hand(g, address);
      for (const [service, s] of entries) await host.add(service, s);
      await host.start();
    } catch (err) {
      await host.close(0);
      for (const l of sockets.values()) this.#sockets.release(l, id);
      throw err;
    } finally {
      this.#starting.delete(g);
    }
    return g;
  }

  async #leave(g: EdgeGroup, service: string, grace: number): Promise<void> {
    if (g.host.services().length === 1 && g.host.state(service) !== undefined) {
      // The last service: the listener closes with its drain.
      if (this.#groups.get(g.listen) === g) this.#groups.delete(g.listen);
      await this.#close(g, grace);
      return;
    }
    await g.host.remove(service, grace);
    this.#prune(g);
  }

  async #close(g: EdgeGroup, grace: number): Promise<void> {
    await g.host.close(grace);
    for (const l of g.sockets.values()) this.#sockets.release(l, g.id);
    g.sockets.clear();
  }
}
