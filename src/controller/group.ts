// Grouped releases (`groups: { shop: [web, api, worker] }`, `cutover deploy --group shop v42`): one
// release per member, linked by a group release id in their data. Each member goes through its own
// gates; before traffic moves, each waits at the group's barrier (shift.ts calls arrive()), and the
// last to arrive switches every member at once. From then on the group is watched: when any member
// ends failed, aborted or rolled back (its analysis failed, before or after promotion), every other
// member is rolled back (or aborted, before its traffic moved), recorded with the group's reason.
import { randomBytes } from 'node:crypto';
import { CutoverError, conflict, notFound } from '../errors.ts';
import { hasTraffic, isTerminal } from '../lifecycle.ts';
import type { Logger } from '../log.ts';
import type { JsonObject, ReleaseRecord, Store } from '../store/types.ts';
import { CONTROLLER } from './context.ts';
import { ServiceRuntime } from './service.ts';
import { sleep } from './wait.ts';

/** How often a running group release looks at its members. */
const WATCH_MS = 100;

/** What a release's data says of its group. */
export interface GroupOfRelease {
  name: string;
  id: string;
  members: string[];
}

export function groupOf(release: Pick<ReleaseRecord, 'data'>): GroupOfRelease | null {
  const g = release.data?.group;
  if (g === null || typeof g !== 'object' || Array.isArray(g)) return null;
  const o = g as JsonObject;
  if (typeof o.name !== 'string' || typeof o.id !== 'string' || !Array.isArray(o.members)) return null;
  return { name: o.name, id: o.id, members: o.members.filter((m): m is string => typeof m === 'string') };
}

/** What a member's release controller offers the group. */
export interface GroupMember {
  deploy(version: string, actor: string, opts: { data?: JsonObject; reason?: string }): Promise<ReleaseRecord>;
  rollback(actor: string, reason?: string): Promise<ReleaseRecord>;
  abort(actor: string, reason?: string): Promise<ReleaseRecord>;
}

/** What the steps of a release need of its group (controller/shift.ts). */
export interface GroupBarrier {
  /** Resolves once every member of the release's group is ready and all were switched to their new slots. */
  arrive(release: ReleaseRecord, signal: AbortSignal): Promise<void>;
}

/** What the API asks of groups. */
export interface GroupCommands {
  deploy(group: string, version: string, actor: string): Promise<{ group: string; id: string; releases: ReleaseRecord[] }>;
  list(): { name: string; members: string[] }[];
}

interface Waiter {
  release: ReleaseRecord;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface Running {
  name: string;
  id: string;
  /** Release id of each member. */
  releases: Map<string, string>;
  waiting: Map<string, Waiter>;
  /** Set once the group ended badly: why, for whoever arrives later. */
  broken: string | null;
  switched: boolean;
}

export class GroupCoordinator implements GroupBarrier, GroupCommands {
  readonly #groups: Record<string, string[]>;
  readonly #member: (service: string) => { controller: GroupMember; rt: ServiceRuntime } | undefined;
  readonly #store: Store;
  readonly #log: Logger;
  readonly #running = new Map<string, Running>();
  readonly #closing = new AbortController();

  constructor(
    groups: Record<string, string[]>,
    member: (service: string) => { controller: GroupMember; rt: ServiceRuntime } | undefined,
    store: Store,
    log: Logger,
  ) {
    this.#groups = groups;
    this.#member = member;
    this.#store = store;
    this.#log = log.child({ component: 'group' });
  }

  list(): { name: string; members: string[] }[] {
    return Object.entries(this.#groups).map(([name, members]) => ({ name, members: [...members] }));
  }

  /** Starts a release of `version` for every member; when one cannot start, those started are aborted. */
  async deploy(group: string, version: string, actor: string): Promise<{ group: string; id: string; releases: ReleaseRecord[] }> {
    const members = this.#groups[group];
    if (members === undefined)
      throw notFound(`no group "${group}"; groups: ${Object.keys(this.#groups).join(', ') || '(none: add groups: to the config)'}`);
    for (const m of members) {
      const active = await this.#store.activeRelease(m);
      if (active !== null && active.phase !== 'promoted')
        throw conflict(
          `${m} of group ${group} has release ${active.id} ${active.phase}; wait for it, or \`cutover abort ${m}\`, then deploy the group`,
        );
    }
    const id = `grp_${randomBytes(6).toString('hex')}`;
    const run: Running = { name: group, id, releases: new Map(), waiting: new Map(), broken: null, switched: false };
    this.#running.set(id, run);
    const data = { group: { name: group, id, members: [...members] } };
    const started: ReleaseRecord[] = [];
    try {
      for (const m of members) {
        const release = await this.#controller(m).deploy(version, actor, {
          data,
          reason: `group ${group} (${id}): deploy version ${version} with ${members.filter((x) => x !== m).join(', ')}`,
        });
        run.releases.set(m, release.id);
        started.push(release);
      }
    } catch (err) {
      run.broken = `${members[started.length]} could not start: ${(err as Error).message}`;
      await this.#endOthers(run, members[started.length] ?? '', run.broken);
      this.#running.delete(id);
      throw err;
    }
    this.#log.info('group release started', { group, id, version, members });
    void this.#watch(run);
    return { group, id, releases: started };
  }

  /** After a restart: watch the group releases that are still going on. */
  async resume(): Promise<void> {
    for (const [name, members] of Object.entries(this.#groups)) {
      for (const m of members) {
        const active = await this.#store.activeRelease(m);
        const g = active ? groupOf(active) : null;
        if (active === null || g === null || g.name !== name || this.#running.has(g.id)) continue;
        const run: Running = { name, id: g.id, releases: new Map(), waiting: new Map(), broken: null, switched: false };
        for (const other of g.members) {
          const r = (await this.#store.listReleases(other, { limit: 10 })).find((x) => groupOf(x)?.id === g.id);
          if (r) run.releases.set(other, r.id);
        }
        this.#running.set(g.id, run);
        void this.#watch(run);
      }
    }
  }

  async arrive(release: ReleaseRecord, signal: AbortSignal): Promise<void> {
    const g = groupOf(release);
    if (g === null) return;
    let run = this.#running.get(g.id);
    if (run === undefined) {
      run = { name: g.name, id: g.id, releases: new Map(), waiting: new Map(), broken: null, switched: false };
      this.#running.set(g.id, run);
    }
    run.releases.set(release.service, release.id);
    if (run.broken !== null) throw groupBroken(run, run.broken);
    if (run.switched) return; // a step run again after the group switched: shift() finds its slot live
    const mine = run;
    const ready = new Promise<void>((resolve, reject) => {
      mine.waiting.set(release.service, { release, resolve, reject });
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
    await this.#switchIfAllReady(mine, g.members);
    return ready;
  }

  /** The last member to arrive switches them all: every member's router moves in the same moment. */
  async #switchIfAllReady(run: Running, members: string[]): Promise<void> {
    if (run.switched) return;
    const states = await Promise.all(members.map(async (m) => ({ m, r: await this.#release(run, m) })));
    // A member that switched already (a daemon restarted between the switches) counts as arrived.
    const ready = states.every(({ m, r }) => run.waiting.has(m) || (r !== null && (r.phase === 'observing' || r.phase === 'promoted')));
    if (!ready || run.switched) return;
    run.switched = true;
    const waiters = [...run.waiting.values()];
    run.waiting.clear();
    try {
      // One store transaction for every member (SQLite); a store without one writes them side by side.
      await ServiceRuntime.switchTogether(
        this.#store,
        waiters.map((w) => ({
          rt: this.#runtime(w.release.service),
          slot: w.release.slot,
          actor: CONTROLLER,
          reason: `group ${run.name} (${run.id}): all traffic of ${members.join(', ')} to version ${w.release.version}, together`,
          releaseId: w.release.id,
        })),
      );
      for (const w of waiters) w.resolve();
    } catch (err) {
      for (const w of waiters) w.reject(err as Error);
    }
  }

  /** Until every member's release has ended: the first that ends badly takes the others with it. */
  async #watch(run: Running): Promise<void> {
    const signal = this.#closing.signal;
    const members = this.#groups[run.name] ?? [];
    while (!signal.aborted) {
      try {
        const releases = await Promise.all(members.map(async (m) => ({ m, r: await this.#release(run, m) })));
        const bad = releases.find(({ r }) => r !== null && (r.phase === 'failed' || r.phase === 'aborted' || r.phase === 'rolled-back'));
        if (bad && run.broken === null) {
          const r = bad.r as ReleaseRecord;
          run.broken = `${bad.m} ${r.phase}: ${(r.reason ?? '').split('\n')[0]}`;
          this.#log.warn('a group member ended badly: the others go back too', { group: run.name, id: run.id, member: bad.m });
          for (const w of run.waiting.values()) w.reject(groupBroken(run, run.broken));
          run.waiting.clear();
          await this.#endOthers(run, bad.m, run.broken);
        }
        if (releases.every(({ r }) => r !== null && isTerminal(r.phase))) break;
      } catch (err) {
        this.#log.warn('watching the group failed; trying again', { group: run.name, error: (err as Error).message });
      }
      await sleep(WATCH_MS, signal).catch(() => {});
    }
    this.#running.delete(run.id);
  }

  /** Rolls back (or, before its traffic moved, aborts) every member's release but `cause`'s. */
  async #endOthers(run: Running, cause: string, why: string): Promise<void> {
    const reason = `group ${run.name} (${run.id}) goes back together: ${why}`;
    await Promise.all(
      [...run.releases].map(async ([m, id]) => {
        if (m === cause) return;
        const r = await this.#store.getRelease(id);
        if (r === null || isTerminal(r.phase)) return;
        const controller = this.#controller(m);
        const act = hasTraffic(r.phase) ? controller.rollback(`group:${run.name}`, reason) : controller.abort(`group:${run.name}`, reason);
        await act.catch((err: Error) => this.#log.warn('a group member could not be ended', { member: m, error: err.message }));
      }),
    );
  }

  async #release(run: Running, member: string): Promise<ReleaseRecord | null> {
    const id = run.releases.get(member);
    return id === undefined ? null : this.#store.getRelease(id);
  }

  #runtime(service: string): ServiceRuntime {
    const m = this.#member(service);
    if (m === undefined) throw notFound(`group member ${service} is not a service of this daemon`);
    return m.rt;
  }

  #controller(service: string): GroupMember {
    const m = this.#member(service);
    if (m === undefined) throw notFound(`group member ${service} is not a service of this daemon`);
    return m.controller;
  }

  close(): void {
    this.#closing.abort();
  }
}

function groupBroken(run: Running, why: string): CutoverError {
  return new CutoverError('CUTOVER_E_CONFLICT', `group ${run.name} (${run.id}) goes back together: ${why}`, 409);
}
