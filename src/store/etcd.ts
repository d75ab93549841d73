// The Store for a fleet: releases, events, route states, tokens and each node's process replica
// records (etcd-replicas.ts) in an etcd v3 cluster, under a key prefix (the layout is in etcd-keys.ts). Every write is one etcd transaction, committed by a quorum
// before the call resolves; it succeeds only if what it read is unchanged (mod revisions, the route
// generation), and is retried from a fresh read a few times when another writer got there first.
//
// Event order: `<prefix>/seq` is a counter every event-writing transaction reads, increments and
// compares, so an installation's seqs are dense (1, 2, 3, ...) whatever else shares the cluster, and
// `events/<seq>` in key order is seq order: range reads with `afterSeq` and `limit` are answered by
// etcd itself. etcd's revision would avoid the counter, but it is not known before the commit (it
// cannot be in the key) and it jumps with every other installation's writes. The cost is that an
// installation's writes with events are serialised: a few per release step, far below what etcd takes.

import { hostname } from 'node:os';
import type { Etcd3, ITxnResponse } from 'etcd3';
import { conflict, CutoverError, notFound } from '../errors.ts';
import { isTerminal } from '../lifecycle.ts';
import { createClient, DEFAULT_REQUEST_TIMEOUT } from './etcd-client.ts';
import { EtcdFleetLink } from './etcd-fleet.ts';
import { EtcdIo } from './etcd-io.ts';
import { keysFor, padSeq, SCHEMA_VERSION, type Keys } from './etcd-keys.ts';
import { absent, counterOf, del, get, modIs, parse, put, retryStale, STALE, toEvent, valueIs } from './etcd-ops.ts';
import { etcdReplicaBook } from './etcd-replicas.ts';
import {
  activeReleaseConflict,
  checkEventRelease,
  checkPhaseEventType,
  checkRouteGeneration,
  checkTransition,
  cloneJson,
  DEFAULT_EVENT_LIMIT,
  DEFAULT_RELEASE_LIMIT,
  limitOf,
  mergeData,
  newId,
  releaseNotFound,
  staleRouteConflict,
} from './rules.ts';
import type {
  EventInput,
  EventQuery,
  FleetLink,
  NewEvent,
  NewRelease,
  NewToken,
  Phase,
  PutRouteOptions,
  ReleaseRecord,
  ReplicaBook,
  RouteState,
  Store,
  StoreEvent,
  TokenRecord,
  TransitionInput,
} from './types.ts';

export const DEFAULT_DIAL_TIMEOUT = 5000;

/** etcd's default --max-txn-ops: the most operations one transaction may hold. */
const MAX_TXN_OPS = 128;

export interface EtcdStoreOptions {
  /** Client URLs: `http://host:2379`. */
  endpoints: string[];
  /** Keys live under it; installations sharing a cluster use prefixes that do not nest. */
  prefix: string;
  /** Deadline of the first call, which checks that a quorum answers and the layout is known. */
  dialTimeoutMs?: number;
  /** Deadline of every later call. */
  requestTimeoutMs?: number;
  /** Whose replicas `replicas()` keeps: `replicaNode(stateDir)` (etcd-replicas.ts); default: this host's name. */
  node?: string;
  now?: () => Date;
}

export class EtcdStore implements Store {
  readonly prefix: string;
  readonly #client: Etcd3;
  readonly #io: EtcdIo;
  readonly #k: Keys;
  readonly #now: () => Date;
  readonly #node: string;
  #fleet: EtcdFleetLink | null = null;
  #closed = false;

  /**
   * Connects and checks that a quorum answers, so a daemon pointed at a broken cluster says so when
   * it starts. Throws CUTOVER_E_STORE_UNAVAILABLE (see etcd-errors.ts) when it does not.
   */
  static async connect(options: EtcdStoreOptions): Promise<EtcdStore> {
    if (options.endpoints.length === 0) {
      throw new CutoverError('CUTOVER_E_CONFIG_INVALID', 'the etcd store needs at least one endpoint: etcd://host:2379,host:2379', 400);
    }
    const client = createClient(options.endpoints, options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT);
    const store = new EtcdStore(client, options);
    try {
      await store.#init(options.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT);
    } catch (err) {
      client.close();
      throw err;
    }
    return store;
  }

  private constructor(client: Etcd3, options: EtcdStoreOptions) {
    this.#client = client;
    this.prefix = options.prefix.replace(/\/+$/, '');
    this.#k = keysFor(this.prefix);
    this.#io = new EtcdIo(client, [...options.endpoints], this.#k, this.prefix, () => this.#closed);
    this.#now = options.now ?? (() => new Date());
    this.#node = options.node ?? hostname();
  }

  /** The raw client, for tests that look at the keys themselves; the fleet gets `fleet()`, never this. */
  get client(): Etcd3 {
    return this.#client;
  }

  fleet(): FleetLink {
    this.#fleet ??= new EtcdFleetLink(this.#client, this.prefix);
    return this.#fleet;
  }

  /** This node's replica records (etcd-replicas.ts): another machine's are neither listed nor removed. */
  replicas(): ReplicaBook {
    return etcdReplicaBook(this.#io, this.#k, this.#node);
  }

  async createRelease(input: NewRelease, event: EventInput): Promise<ReleaseRecord> {
    const k = this.#k;
    const id = input.id ?? newId('rel');
    return this.#io.write(async (commit) => {
      return retryStale(`creating a release of ${input.service}`, async () => {
        const [seqKv = null, activeKv = null, existing = null] = await this.#io.getMany([k.seq, k.active(input.service), k.release(id)]);
        if (activeKv !== null) {
          const active = await this.#io.getJson<ReleaseRecord>(k.release(activeKv.value.toString()));
          if (active !== null) throw activeReleaseConflict(active);
        }
        if (existing !== null) throw conflict(`a release ${id} exists already; choose another id`);
        const seq = counterOf(seqKv) + 1;
        const time = this.#time();
        const release: ReleaseRecord = {
          id,
          service: input.service,
          version: input.version,
          slot: input.slot,
          fromSlot: input.fromSlot,
          phase: 'pending',
          createdAt: time,
          updatedAt: time,
          reason: event.reason,
          ...(input.data === undefined ? {} : { data: cloneJson(input.data) }),
        };
        const first = toEvent(seq, time, { ...event, service: input.service, releaseId: id }, 'phase', 'pending');
        const res = await commit(
          {
            compare: [modIs(k.seq, seqKv), absent(k.active(input.service)), absent(k.release(id))],
            success: [
              put(k.release(id), JSON.stringify(release)),
              put(k.releasesOfService(input.service) + padSeq(seq), id),
              put(k.active(input.service), id),
              ...this.#io.eventOps(first),
            ],
          },
          this.#io.seqCheck(seqKv, first),
        );
        return res.succeeded ? release : STALE;
      });
    });
  }

  async transition(releaseId: string, phase: Phase, input: TransitionInput): Promise<{ release: ReleaseRecord; event: StoreEvent }> {
    const k = this.#k;
    // Resolves once a quorum has the transaction on disk (etcd fsyncs its log before acknowledging),
    // so the caller may make the transition's effect visible.
    return this.#io.write(async (commit) => {
      return retryStale(`moving release ${releaseId} to ${phase}`, async () => {
        const [releaseKv = null, seqKv = null] = await this.#io.getMany([k.release(releaseId), k.seq]);
        if (releaseKv === null) throw releaseNotFound(releaseId);
        const current = parse<ReleaseRecord>(releaseKv);
        checkTransition(current, phase, input);
        const seq = counterOf(seqKv) + 1;
        const time = this.#time();
        const data = mergeData(current.data, input.releaseData);
        const release: ReleaseRecord = {
          ...current,
          phase,
          updatedAt: time,
          reason: input.reason,
          ...(data === undefined ? {} : { data }),
        };
        const event = toEvent(seq, time, { ...input, service: release.service, releaseId }, 'phase', phase);
        const res = await commit(
          {
            // The release as read: a concurrent transition (an operator's abort) makes this one retry
            // from a fresh read, where checkTransition refuses it with the phase it found.
            compare: [modIs(k.release(releaseId), releaseKv), modIs(k.seq, seqKv)],
            success: [
              put(k.release(releaseId), JSON.stringify(release)),
              ...this.#io.eventOps(event),
              ...(isTerminal(phase) ? [del(k.active(release.service))] : []),
            ],
          },
          this.#io.seqCheck(seqKv, event),
        );
        return res.succeeded ? { release, event } : STALE;
      });
    });
  }

  async appendEvent(input: NewEvent): Promise<StoreEvent> {
    checkPhaseEventType(input);
    return this.#io.write(async (commit) => {
      return retryStale(`recording a ${input.type} event of ${input.service}`, async () => {
        const [seqKv, releaseKv] = await this.#io.readForEvent(input);
        checkEventRelease(input, releaseKv === null ? null : parse<ReleaseRecord>(releaseKv));
        const event = toEvent(counterOf(seqKv) + 1, this.#time(), input, input.type);
        const res = await commit(
          { compare: [modIs(this.#k.seq, seqKv)], success: this.#io.eventOps(event) },
          this.#io.seqCheck(seqKv, event),
        );
        return res.succeeded ? event : STALE;
      });
    });
  }

  async getRelease(id: string): Promise<ReleaseRecord | null> {
    return this.#io.read(() => this.#io.getJson<ReleaseRecord>(this.#k.release(id)));
  }

  async activeRelease(service: string): Promise<ReleaseRecord | null> {
    return this.#io.read(async () => {
      const active = await this.#io.get(this.#k.active(service));
      return active === null ? null : this.#io.getJson<ReleaseRecord>(this.#k.release(active.value.toString()));
    });
  }

  async activeReleases(): Promise<ReleaseRecord[]> {
    return this.#io.read(async () => {
      const ids = await this.#io.range(this.#k.actives);
      const kvs = await this.#io.getMany(ids.map((kv) => this.#k.release(kv.value.toString())));
      return kvs
        .filter((kv) => kv !== null)
        .sort((a, b) => Number(a.create_revision) - Number(b.create_revision))
        .map((kv) => parse<ReleaseRecord>(kv));
    });
  }

  async listReleases(service: string, options: { limit?: number } = {}): Promise<ReleaseRecord[]> {
    return this.#io.read(async () => {
      const limit = limitOf(options.limit, DEFAULT_RELEASE_LIMIT);
      const ids = await this.#io.range(this.#k.releasesOfService(service), { limit, desc: true });
      const kvs = await this.#io.getMany(ids.map((kv) => this.#k.release(kv.value.toString())));
      return kvs.filter((kv) => kv !== null).map((kv) => parse<ReleaseRecord>(kv));
    });
  }

  async events(query: EventQuery = {}): Promise<StoreEvent[]> {
    const k = this.#k;
    return this.#io.read(async () => {
      const dir =
        query.releaseId !== undefined
          ? k.eventsOfRelease(query.releaseId)
          : query.service !== undefined
            ? k.eventsOfService(query.service)
            : k.events;
      const kvs = await this.#io.range(dir, {
        from: query.afterSeq === undefined ? undefined : dir + padSeq(Math.max(0, Math.floor(query.afterSeq)) + 1),
        limit: limitOf(query.limit, DEFAULT_EVENT_LIMIT),
        desc: query.order === 'desc',
      });
      const events = kvs.map((kv) => parse<StoreEvent>(kv));
      // A release's events all have its service, so this keeps all of them or none.
      return query.releaseId !== undefined && query.service !== undefined ? events.filter((e) => e.service === query.service) : events;
    });
  }

  async getRouteState(service: string): Promise<RouteState | null> {
    return this.#io.read(() => this.#io.getJson<RouteState>(this.#k.route(service)));
  }

  async listRouteStates(): Promise<RouteState[]> {
    return this.#io.read(async () => {
      const states = (await this.#io.range(this.#k.routes)).map((kv) => parse<RouteState>(kv));
      return states.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
    });
  }

  /**
   * A switch: one transaction that writes the route state (and its event) only if the stored
   * generation is still `expectGeneration`. Without an event it needs no read first.
   */
  async putRouteState(state: RouteState, options: PutRouteOptions): Promise<RouteState> {
    checkRouteGeneration(state, options.expectGeneration);
    const k = this.#k;
    const expect = options.expectGeneration;
    const genKey = k.routeGeneration(state.service);
    const sameGeneration = expect === 0 ? absent(genKey) : valueIs(genKey, String(expect));
    const text = JSON.stringify(state);
    const writes = [put(k.route(state.service), text), put(genKey, String(state.generation))];
    const stale = (res: ITxnResponse): CutoverError =>
      staleRouteConflict(state.service, expect, counterOf(res.responses[0]?.response_range.kvs[0] ?? null));
    return this.#io.write(async (commit) => {
      const event = options.event;
      if (event === undefined) {
        // No counter to fence here: a lost answer is settled only when the route state is found written.
        const res = await commit(
          { compare: [sameGeneration], success: writes, failure: [get(genKey)] },
          { witness: { key: k.route(state.service), value: text } },
        );
        if (!res.succeeded) throw stale(res);
        return JSON.parse(text) as RouteState;
      }
      return retryStale(`switching ${state.service}`, async () => {
        const releaseId = event.releaseId ?? null;
        const [genKv = null, seqKv = null, releaseKv = null] = await this.#io.getMany([
          genKey,
          k.seq,
          ...(releaseId === null ? [] : [k.release(releaseId)]),
        ]);
        const actual = counterOf(genKv);
        if (actual !== expect) throw staleRouteConflict(state.service, expect, actual);
        // Checked before writing anything, so a bad event leaves the route state as it was.
        checkPhaseEventType(event);
        checkEventRelease(event, releaseKv === null ? null : parse<ReleaseRecord>(releaseKv));
        const recorded = toEvent(counterOf(seqKv) + 1, this.#time(), event, event.type);
        const res = await commit(
          {
            compare: [sameGeneration, modIs(k.seq, seqKv)],
            success: [...writes, ...this.#io.eventOps(recorded)],
            failure: [get(genKey)],
          },
          this.#io.seqCheck(seqKv, recorded),
        );
        if (res.succeeded) return JSON.parse(text) as RouteState;
        if (counterOf(res.responses[0]?.response_range.kvs[0] ?? null) !== expect) throw stale(res);
        return STALE;
      });
    });
  }

  /**
   * A grouped switch: one transaction that compares every member's generation and writes every
   * member's route state and event, or, when any one is stale, none of them. Events take
   * consecutive seqs in the order given.
   */
  async putRouteStates(changes: { state: RouteState; options: PutRouteOptions }[]): Promise<RouteState[]> {
    const services = new Set<string>();
    for (const { state, options } of changes) {
      checkRouteGeneration(state, options.expectGeneration);
      // etcd refuses a transaction that writes one key twice.
      if (services.has(state.service)) {
        throw new CutoverError(
          'CUTOVER_E_INTERNAL',
          `route state of ${state.service} is given twice in one switch; this is a bug, report it`,
        );
      }
      services.add(state.service);
    }
    const k = this.#k;
    const genKeys = changes.map((c) => k.routeGeneration(c.state.service));
    const texts = changes.map((c) => JSON.stringify(c.state));
    const sameGenerations = changes.map((c, i) =>
      c.options.expectGeneration === 0 ? absent(genKeys[i]!) : valueIs(genKeys[i]!, String(c.options.expectGeneration)),
    );
    const writes = changes.flatMap((c, i) => [put(k.route(c.state.service), texts[i]!), put(genKeys[i]!, String(c.state.generation))]);
    const events = changes.flatMap((c) => (c.options.event === undefined ? [] : [c.options.event]));
    if (changes.length === 0) return [];
    // Each member writes its route, its generation and an event with two index copies, plus one counter.
    if (writes.length + events.length * 3 + 1 > MAX_TXN_OPS) {
      throw new CutoverError(
        'CUTOVER_E_CONFIG_INVALID',
        `${changes.length} services are too many to switch in one etcd transaction (at most ${MAX_TXN_OPS} operations); split the group`,
        400,
      );
    }
    const releaseIds = [...new Set(events.flatMap((e) => (e.releaseId === undefined || e.releaseId === null ? [] : [e.releaseId])))];
    /** A conflict naming the first member whose stored generation is not the one expected, if any. */
    const firstStale = (actual: number[]): CutoverError | null => {
      const i = changes.findIndex((c, j) => actual[j] !== c.options.expectGeneration);
      return i < 0 ? null : staleRouteConflict(changes[i]!.state.service, changes[i]!.options.expectGeneration, actual[i] ?? 0);
    };
    return this.#io.write(async (commit) => {
      return retryStale(`switching ${[...services].join(', ')} together`, async () => {
        const kvs = await this.#io.getMany([...genKeys, k.seq, ...releaseIds.map((id) => k.release(id))]);
        const stale = firstStale(genKeys.map((_, i) => counterOf(kvs[i] ?? null)));
        if (stale !== null) throw stale;
        const seqKv = kvs[genKeys.length] ?? null;
        const releases = new Map(releaseIds.map((id, i) => [id, kvs[genKeys.length + 1 + i] ?? null]));
        // Checked before writing anything, so a bad event leaves every route state as it was.
        for (const event of events) {
          checkPhaseEventType(event);
          const releaseKv = releases.get(event.releaseId ?? '') ?? null;
          checkEventRelease(event, releaseKv === null ? null : parse<ReleaseRecord>(releaseKv));
        }
        const time = this.#time();
        const base = counterOf(seqKv);
        const recorded = events.map((event, i) => toEvent(base + 1 + i, time, event, event.type));
        const last = recorded.at(-1);
        const res = await commit(
          {
            compare: [...sameGenerations, ...(last === undefined ? [] : [modIs(k.seq, seqKv)])],
            success: [...writes, ...this.#io.eventOps(...recorded)],
            failure: genKeys.map(get),
          },
          // Without events no counter fences a lost answer: it is settled when the first route state is found written.
          last === undefined ? { witness: { key: k.route(changes[0]!.state.service), value: texts[0]! } } : this.#io.seqCheck(seqKv, last),
        );
        if (res.succeeded) return texts.map((text) => JSON.parse(text) as RouteState);
        const after = firstStale(res.responses.map((r) => counterOf(r.response_range.kvs[0] ?? null)));
        if (after !== null) throw after;
        // Only the event counter moved: another writer's event; read again.
        return STALE;
      });
    });
  }

  async createToken(input: NewToken): Promise<TokenRecord> {
    const k = this.#k;
    const id = input.id ?? newId('tok');
    return this.#io.write(async (commit) => {
      const token: TokenRecord = { id, name: input.name, role: input.role, hash: input.hash, createdAt: this.#time(), revokedAt: null };
      const res = await commit(
        {
          compare: [absent(k.token(id)), absent(k.tokenHash(input.hash))],
          success: [put(k.token(id), JSON.stringify(token)), put(k.tokenHash(input.hash), id)],
          failure: [get(k.token(id))],
        },
        { witness: { key: k.token(id), value: JSON.stringify(token) } },
      );
      if (res.succeeded) return token;
      if ((res.responses[0]?.response_range.kvs.length ?? 0) > 0) throw conflict(`a token ${id} exists already; choose another id`);
      throw conflict('a token with this secret exists already; create the token again');
    });
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | null> {
    return this.#io.read(async () => {
      const id = await this.#io.get(this.#k.tokenHash(hash));
      if (id === null) return null;
      const token = await this.#io.getJson<TokenRecord>(this.#k.token(id.value.toString()));
      return token !== null && token.revokedAt === null ? token : null;
    });
  }

  async listTokens(): Promise<TokenRecord[]> {
    return this.#io.read(async () => {
      const kvs = await this.#io.range(this.#k.tokens);
      // Creation order: ids made in the same millisecond do not sort by creation.
      return kvs.sort((a, b) => Number(a.create_revision) - Number(b.create_revision)).map((kv) => parse<TokenRecord>(kv));
    });
  }

  async revokeToken(id: string): Promise<TokenRecord> {
    const key = this.#k.token(id);
    return this.#io.write(async (commit) => {
      return retryStale(`revoking token ${id}`, async () => {
        const kv = await this.#io.get(key);
        if (kv === null) throw notFound(`no token ${id}; list them with \`cutover token list\``);
        const token = parse<TokenRecord>(kv);
        if (token.revokedAt !== null) return token;
        const revoked: TokenRecord = { ...token, revokedAt: this.#time() };
        const text = JSON.stringify(revoked);
        const res = await commit({ compare: [modIs(key, kv)], success: [put(key, text)] }, { witness: { key, value: text } });
        return res.succeeded ? revoked : STALE;
      });
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.close();
  }

  /** Marks the prefix with the layout version, or checks the version already there. */
  async #init(dialTimeoutMs: number): Promise<void> {
    const key = this.#k.schema;
    const res = await this.#io.read(() =>
      this.#client.kv.txn(
        { compare: [absent(key)], success: [put(key, String(SCHEMA_VERSION))], failure: [get(key)] },
        { deadline: Date.now() + dialTimeoutMs },
      ),
    );
    const found = res.succeeded ? SCHEMA_VERSION : Number(res.responses[0]?.response_range.kvs[0]?.value.toString());
    if (found !== SCHEMA_VERSION) {
      throw new CutoverError(
        'CUTOVER_E_CONFLICT',
        `the etcd keys under ${this.prefix} have layout ${String(found)}, and this cutover knows layout ${SCHEMA_VERSION}; ` +
          'run the cutover that wrote them, or use another prefix',
        409,
      );
    }
  }

  #time(): string {
    return this.#now().toISOString();
  }
}
