// Leader election among the controllers of one installation, with the fleet link's election (a
// campaign key per candidate, bound to its lease; the oldest key leads). Only the leader runs releases and takes
// mutating API calls. A leader whose lease is lost (etcd unreachable for longer than the lease)
// steps down and campaigns again; a dead leader's key expires with its lease and the next candidate
// takes over. Writes stay safe across a changeover: every store write compares what it read.
import type { Logger } from '../log.ts';
import type { FleetCampaign, FleetElection, FleetLink } from '../store/fleet-link.ts';
import { ELECTION_NAME, LEADER_LEASE_TTL_S, parseJson, type LeaderRecord } from './keys.ts';

/** Wait between campaigns after one failed (etcd unreachable). */
const RETRY_MS = 1000;
const READ_TIMEOUT_MS = 2000;

export interface LeadershipHandlers {
  /** Now the leader: start the controllers. Leadership is kept while it runs. */
  elected(): Promise<void>;
  /** No longer the leader: stop acting at once. */
  lost(): Promise<void>;
}

export class Leadership {
  readonly self: LeaderRecord;
  readonly #election: FleetElection;
  readonly #log: Logger;
  readonly #handlers: LeadershipHandlers;
  #campaign: FleetCampaign | null = null;
  #leading = false;
  #closed = false;
  #loop: Promise<void> = Promise.resolve();
  #stop: () => void = () => {};
  readonly #stopped = new Promise<null>((resolve) => (this.#stop = () => resolve(null)));

  constructor(link: FleetLink, self: LeaderRecord, log: Logger, handlers: LeadershipHandlers) {
    this.self = self;
    this.#election = link.election(ELECTION_NAME, LEADER_LEASE_TTL_S);
    this.#log = log.child({ component: 'leader', controller: self.id });
    this.#handlers = handlers;
  }

  get leading(): boolean {
    return this.#leading;
  }

  start(): void {
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      const campaign = this.#election.campaign(JSON.stringify(this.self));
      this.#campaign = campaign;
      const lost = new Promise<Error>((resolve) => campaign.onError(resolve));
      const won = await Promise.race([
        campaign.wait().then(
          () => null,
          (err: Error) => err,
        ),
        lost,
        this.#stopped,
      ]);
      if (this.#closed) break;
      if (won !== null) {
        this.#log.warn('cannot campaign for leadership; trying again', { err: won });
        await campaign.resign().catch(() => {});
        await sleep(RETRY_MS);
        continue;
      }
      this.#leading = true;
      this.#log.info('elected leader');
      try {
        await this.#handlers.elected();
      } catch (err) {
        this.#log.error('starting as leader failed; stepping down', { err });
        this.#leading = false;
        await this.#handlers.lost().catch(() => {});
        await campaign.resign().catch(() => {});
        await sleep(RETRY_MS);
        continue;
      }
      const err = await Promise.race([lost, this.#stopped]);
      if (this.#closed || err === null) break;
      this.#leading = false;
      this.#log.error('leadership lost; stopping releases and campaigning again', { err });
      await this.#handlers.lost().catch((e: unknown) => this.#log.error('stepping down failed', { err: e }));
      await campaign.resign().catch(() => {});
    }
  }

  /** The current leader, as its campaign says; null when there is none or etcd does not answer. */
  async leader(): Promise<LeaderRecord | null> {
    try {
      const value = await Promise.race([this.#election.leader(), sleep(READ_TIMEOUT_MS).then(() => undefined)]);
      return value === undefined ? null : parseJson<LeaderRecord>(value);
    } catch {
      return null;
    }
  }

  /** Resigns, so a follower takes over at once instead of after the lease. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stop();
    const campaign = this.#campaign;
    this.#leading = false;
    await Promise.race([campaign?.resign().catch(() => {}), sleep(READ_TIMEOUT_MS)]);
    await Promise.race([this.#loop, sleep(READ_TIMEOUT_MS)]);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
