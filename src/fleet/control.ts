// What `cutover up` adds with an etcd store: the routers' registry (so switches wait for them), the
// leader election (only the leader runs releases), and, unless `fleet.router: false`, a fleet router
// serving the config's services like any `cutover router`: driven from this process, its routers in
// the stateDir's supervisor where `hostFor` says so (they outlive this process), else in this one.
import { hostname } from 'node:os';
import type { Config } from '../config/types.ts';
import { CutoverError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RouterHost } from '../router/host.ts';
import type { FleetLink } from '../store/fleet-link.ts';
import { FleetAckHost } from './ack-host.ts';
import { FleetMetrics } from './fleet-metrics.ts';
import type { LeaderRecord, RouterRecord } from './keys.ts';
import { Leadership, type LeadershipHandlers } from './leader.ts';
import { RouterRegistry } from './registry.ts';
import { type FleetHostFactory, FleetRouter } from './router-node.ts';

const LEADER_REFRESH_MS = 1000;

export interface FleetStatus {
  controller: string;
  leader: LeaderRecord | null;
  routers: { id: string; generation: number | null; listen: string | null; since: string; updatedAt: string }[];
}

export class FleetControl {
  readonly id: string;
  readonly registry: RouterRegistry;
  readonly router: FleetRouter | null;
  readonly #config: Config;
  readonly #link: FleetLink;
  readonly #log: Logger;
  #leadership: Leadership | null = null;
  #leader: LeaderRecord | null = null;
  #refresh: NodeJS.Timeout | null = null;

  /** `hostFor`: where the fleet router's routers run (absent: in this process). */
  static async start(config: Config, link: FleetLink, log: Logger, hostFor?: FleetHostFactory): Promise<FleetControl> {
    const id = `${hostname()}/${process.pid}`;
    const registry = await RouterRegistry.start(link, log);
    let router: FleetRouter | null = null;
    try {
      if (config.fleet.router) {
        const first = Object.values(config.services)[0]?.listen ?? '';
        router = await FleetRouter.start({ id: `${hostname()}/${first}`, config, log, link, hostFor });
      }
    } catch (err) {
      await registry.close();
      throw err;
    }
    return new FleetControl(id, config, link, log, registry, router);
  }

  private constructor(id: string, config: Config, link: FleetLink, log: Logger, registry: RouterRegistry, router: FleetRouter | null) {
    this.id = id;
    this.#config = config;
    this.#link = link;
    this.#log = log;
    this.registry = registry;
    this.router = router;
  }

  /** The host a service's runtime applies route states to: it waits for the fleet's acks. */
  hostFor(service: string): RouterHost {
    const counters = new FleetMetrics(this.#link, service);
    return new FleetAckHost(service, this.registry, this.#config.fleet, this.#log.child({ service }), () => counters.read());
  }

  /** Campaigns from now on; `handlers` start and stop what only the leader runs. */
  campaign(api: string, handlers: LeadershipHandlers): void {
    const self: LeaderRecord = { id: this.id, api };
    this.#leadership = new Leadership(this.#link, self, this.#log, {
      elected: async () => {
        this.#leader = self;
        await handlers.elected();
      },
      lost: async () => {
        this.#leader = null;
        await handlers.lost();
      },
    });
    this.#leadership.start();
    // A follower names the leader in its refusals: keep what it knows of it fresh.
    this.#refresh = setInterval(() => {
      if (!this.leading) void this.refreshLeader();
    }, LEADER_REFRESH_MS);
    this.#refresh.unref();
    void this.refreshLeader();
  }

  get leading(): boolean {
    return this.#leadership?.leading ?? false;
  }

  /** Refuses what only the leader may do, naming the leader (looked up now: it may have changed). */
  async requireLeader(): Promise<void> {
    if (this.leading) return;
    const leader = (await this.#leadership?.leader()) ?? null;
    this.#leader = leader;
    throw notLeader(this.id, leader);
  }

  /** The error a follower answers with, from what it last knew of the leader. */
  notLeaderError(): CutoverError {
    return notLeader(this.id, this.#leader);
  }

  /** Refreshes what this controller knows of the leader (for `notLeaderError`). */
  async refreshLeader(): Promise<LeaderRecord | null> {
    this.#leader = (await this.#leadership?.leader()) ?? null;
    return this.#leader;
  }

  /** Every live router with the generation of `service` it serves. */
  status(service: string): FleetStatus {
    return {
      controller: this.id,
      leader: this.leading ? { id: this.id, api: this.#leadership?.self.api ?? '' } : this.#leader,
      routers: this.registry.routers().map((r: RouterRecord) => ({
        id: r.id,
        generation: r.services[service]?.generation ?? null,
        listen: r.services[service]?.listen ?? null,
        since: r.since,
        updatedAt: r.updatedAt,
      })),
    };
  }

  async close(grace: number): Promise<void> {
    if (this.#refresh !== null) clearInterval(this.#refresh);
    await this.#leadership?.close();
    await this.router?.close(grace);
    await this.registry.close();
  }
}

function notLeader(self: string, leader: LeaderRecord | null): CutoverError {
  const where =
    leader === null
      ? 'no leader is elected right now; retry in a few seconds'
      : `send it to the leader ${leader.id} at http://${leader.api}/`;
  return new CutoverError(
    'CUTOVER_E_CONFLICT',
    `not the leader: ${leader?.id ?? 'none'}. Controller ${self} is a follower and takes no changes; ${where}`,
    503,
  );
}
