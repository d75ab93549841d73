// The Store for a fleet: releases, events, route states and tokens in an etcd v3 cluster, under a key
// prefix (the layout is in etcd-keys.ts). Every write is one etcd transaction, committed by a quorum
// before the call resolves; it succeeds only if what it read is unchanged (mod revisions, the route
// generation), and is retried from a fresh read a few times when another writer got there first.
//
// Event order: `<prefix>/seq` is a counter every event-writing transaction reads, increments and
// compares, so an installation's seqs are dense (1, 2, 3, ...) whatever else shares the cluster, and
// `events/<seq>` in key order is seq order: range reads with `afterSeq` and `limit` are answered by
// etcd itself. etcd's revision would avoid the counter, but it is not known before the commit (it
// cannot be in the key) and it jumps with every other installation's writes. The cost is that an
// installation's writes with events are serialised: a few per release step, far below what etcd takes.

import {
  CompareResult,
  CompareTarget,
  SortOrder,
  SortTarget,
  type Etcd3,
  type ICompare,
  type IKeyValue,
  type IRequestOp,
  type ITxnRequest,
  type ITxnResponse,
} from 'etcd3';
import { conflict, CutoverError, notFound } from '../errors.ts';
import { callEtcd, classify, createClient, DEFAULT_REQUEST_TIMEOUT, readAgain, type Stage } from './etcd-client.ts';
import { keysFor, padSeq, prefixRange, SCHEMA_VERSION, type Keys } from './etcd-keys.ts';
import { isTerminal } from '../lifecycle.ts';
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
  EventType,
  NewEvent,
  NewRelease,
  NewToken,
  Phase,
  PutRouteOptions,
  ReleaseRecord,
  RouteState,
  Store,
  StoreEvent,
  TokenRecord,
  TransitionInput,
} from './types.ts';

export const DEFAULT_DIAL_TIMEOUT = 5000;
/** Tries of a write whose reads another writer made stale; then it is refused as a conflict. */
const WRITE_ATTEMPTS = 20;
/** Operations per read transaction: below etcd's default --max-txn-ops (128). */
const TXN_OPS = 100;

export interface EtcdStoreOptions {
  /** Client URLs: `http://host:2379`. */
  endpoints: string[];
  /** Keys live under it; installations sharing a cluster use prefixes that do not nest. */
  prefix: string;
  /** Deadline of the first call, which checks that a quorum answers and the layout is known. */
  dialTimeoutMs?: number;
  /** Deadline of every later call. */
  requestTimeoutMs?: number;
  now?: () => Date;
}

/** How to find out whether a transaction happened after its answer was lost (see #write). */
interface CommitCheck {
  witness: { key: string; value: string };
  fence?: { compare: ICompare; write: IRequestOp };
}
type Commit = (req: ITxnRequest, check: CommitCheck) => Promise<ITxnResponse>;

export class EtcdStore implements Store {
  readonly prefix: string;
  readonly #client: Etcd3;
  readonly #endpoints: string[];
  readonly #k: Keys;
  readonly #now: () => Date;
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
    this.#endpoints = [...options.endpoints];
    this.prefix = options.prefix.replace(/\/+$/, '');
    this.#k = keysFor(this.prefix);
    this.#now = options.now ?? (() => new Date());
  }

  /** The client, for what builds on the store in a fleet (routers watching routes/, a leader's lease). */
  get client(): Etcd3 {
    return this.#client;
  }

  async createRelease(input: NewRelease, event: EventInput): Promise<ReleaseRecord> {
    const k = this.#k;
    const id = input.id ?? newId('rel');
    return this.#write(async (commit) => {
      for (let attempt = 1; ; attempt++) {
        const [seqKv = null, activeKv = null, existing = null] = await this.#getMany([k.seq, k.active(input.service), k.release(id)]);
        if (activeKv !== null) {
          const active = await this.#getJson<ReleaseRecord>(k.release(activeKv.value.toString()));
          if (active !== null) throw activeReleaseConflict(active);
        }
        if (existing !== null) throw conflict(`a release ${id} exists already; choose another id`);
        const seq = seqOf(seqKv) + 1;
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
              ...this.#eventOps(first),
            ],
          },
          this.#seqCheck(seqKv, first),
        );
        if (res.succeeded) return release;
        await contended(attempt, `creating a release of ${input.service}`);
      }
    });
  }

  async transition(releaseId: string, phase: Phase, input: TransitionInput): Promise<{ release: ReleaseRecord; event: StoreEvent }> {
    const k = this.#k;
    // Resolves once a quorum has the transaction on disk (etcd fsyncs its log before acknowledging),
    // so the caller may make the transition's effect visible.
    return this.#write(async (commit) => {
      for (let attempt = 1; ; attempt++) {
        const [releaseKv = null, seqKv = null] = await this.#getMany([k.release(releaseId), k.seq]);
        if (releaseKv === null) throw releaseNotFound(releaseId);
        const current = parse<ReleaseRecord>(releaseKv);
        checkTransition(current, phase, input);
        const seq = seqOf(seqKv) + 1;
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
              ...this.#eventOps(event),
              ...(isTerminal(phase) ? [del(k.active(release.service))] : []),
            ],
          },
          this.#seqCheck(seqKv, event),
        );
        if (res.succeeded) return { release, event };
        await contended(attempt, `moving release ${releaseId} to ${phase}`);
      }
    });
  }

  async appendEvent(input: NewEvent): Promise<StoreEvent> {
    checkPhaseEventType(input);
    return this.#write(async (commit) => {
      for (let attempt = 1; ; attempt++) {
        const [seqKv, releaseKv] = await this.#readForEvent(input);
        checkEventRelease(input, releaseKv === null ? null : parse<ReleaseRecord>(releaseKv));
        const event = toEvent(seqOf(seqKv) + 1, this.#time(), input, input.type);
        const res = await commit({ compare: [modIs(this.#k.seq, seqKv)], success: this.#eventOps(event) }, this.#seqCheck(seqKv, event));
        if (res.succeeded) return event;
        await contended(attempt, `recording a ${input.type} event of ${input.service}`);
      }
    });
  }

  async getRelease(id: string): Promise<ReleaseRecord | null> {
    return this.#read(() => this.#getJson<ReleaseRecord>(this.#k.release(id)));
  }

  async activeRelease(service: string): Promise<ReleaseRecord | null> {
    return this.#read(async () => {
      const active = await this.#get(this.#k.active(service));
      return active === null ? null : this.#getJson<ReleaseRecord>(this.#k.release(active.value.toString()));
    });
  }

  async activeReleases(): Promise<ReleaseRecord[]> {
    return this.#read(async () => {
      const ids = await this.#range(this.#k.actives);
      const kvs = await this.#getMany(ids.map((kv) => this.#k.release(kv.value.toString())));
      return kvs
        .filter((kv) => kv !== null)
        .sort((a, b) => Number(a.create_revision) - Number(b.create_revision))
        .map((kv) => parse<ReleaseRecord>(kv));
    });
  }

  async listReleases(service: string, options: { limit?: number } = {}): Promise<ReleaseRecord[]> {
    return this.#read(async () => {
      const limit = limitOf(options.limit, DEFAULT_RELEASE_LIMIT);
      const ids = await this.#range(this.#k.releasesOfService(service), { limit, desc: true });
      const kvs = await this.#getMany(ids.map((kv) => this.#k.release(kv.value.toString())));
      return kvs.filter((kv) => kv !== null).map((kv) => parse<ReleaseRecord>(kv));
    });
  }

  async events(query: EventQuery = {}): Promise<StoreEvent[]> {
    const k = this.#k;
    return this.#read(async () => {
      const dir =
        query.releaseId !== undefined
          ? k.eventsOfRelease(query.releaseId)
          : query.service !== undefined
            ? k.eventsOfService(query.service)
            : k.events;
      const kvs = await this.#range(dir, {
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
    return this.#read(() => this.#getJson<RouteState>(this.#k.route(service)));
  }

  async listRouteStates(): Promise<RouteState[]> {
    return this.#read(async () => {
      const states = (await this.#range(this.#k.routes)).map((kv) => parse<RouteState>(kv));
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
      staleRouteConflict(state.service, expect, generationOf(res.responses[0]?.response_range.kvs[0] ?? null));
    return this.#write(async (commit) => {
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
      for (let attempt = 1; ; attempt++) {
        const releaseId = event.releaseId ?? null;
        const [genKv = null, seqKv = null, releaseKv = null] = await this.#getMany([
          genKey,
          k.seq,
          ...(releaseId === null ? [] : [k.release(releaseId)]),
        ]);
        const actual = generationOf(genKv);
        if (actual !== expect) throw staleRouteConflict(state.service, expect, actual);
        // Checked before writing anything, so a bad event leaves the route state as it was.
        checkPhaseEventType(event);
        checkEventRelease(event, releaseKv === null ? null : parse<ReleaseRecord>(releaseKv));
        const recorded = toEvent(seqOf(seqKv) + 1, this.#time(), event, event.type);
        const res = await commit(
          {
            compare: [sameGeneration, modIs(k.seq, seqKv)],
            success: [...writes, ...this.#eventOps(recorded)],
            failure: [get(genKey)],
          },
          this.#seqCheck(seqKv, recorded),
        );
        if (res.succeeded) return JSON.parse(text) as RouteState;
        if (generationOf(res.responses[0]?.response_range.kvs[0] ?? null) !== expect) throw stale(res);
        await contended(attempt, `switching ${state.service}`);
      }
    });
  }

  async createToken(input: NewToken): Promise<TokenRecord> {
    const k = this.#k;
    const id = input.id ?? newId('tok');
    return this.#write(async (commit) => {
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
    return this.#read(async () => {
      const id = await this.#get(this.#k.tokenHash(hash));
      if (id === null) return null;
      const token = await this.#getJson<TokenRecord>(this.#k.token(id.value.toString()));
      return token !== null && token.revokedAt === null ? token : null;
    });
  }

  async listTokens(): Promise<TokenRecord[]> {
    return this.#read(async () => {
      const kvs = await this.#range(this.#k.tokens);
      // Creation order: ids made in the same millisecond do not sort by creation.
      return kvs.sort((a, b) => Number(a.create_revision) - Number(b.create_revision)).map((kv) => parse<TokenRecord>(kv));
    });
  }

  async revokeToken(id: string): Promise<TokenRecord> {
    const key = this.#k.token(id);
    return this.#write(async (commit) => {
      for (let attempt = 1; ; attempt++) {
        const kv = await this.#get(key);
        if (kv === null) throw notFound(`no token ${id}; list them with \`cutover token list\``);
        const token = parse<TokenRecord>(kv);
        if (token.revokedAt !== null) return token;
        const revoked: TokenRecord = { ...token, revokedAt: this.#time() };
        const text = JSON.stringify(revoked);
        const res = await commit({ compare: [modIs(key, kv)], success: [put(key, text)] }, { witness: { key, value: text } });
        if (res.succeeded) return revoked;
        await contended(attempt, `revoking token ${id}`);
      }
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
    const res = await this.#read(() =>
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

  #check(): void {
    if (this.#closed) throw new CutoverError('CUTOVER_E_INTERNAL', `the etcd store ${this.prefix} is closed; this is a bug, report it`);
  }

  #time(): string {
    return this.#now().toISOString();
  }

  #read<T>(fn: () => Promise<T>): Promise<T> {
    this.#check();
    return callEtcd(this.#endpoints, () => 'read', fn);
  }

  /**
   * Runs a write; `commit` sends its transaction, and tells a failure before it from one during it.
   *
   * When the answer to a sent transaction is lost (a deadline, a leader that changed under it), the
   * commit may or may not have happened. `commit` then finds out, when the cluster answers again:
   * the transaction's `witness` (a key it writes with a value nobody else writes) shows it happened.
   * Otherwise a `fence` (a write that changes the key the transaction compares: the event counter)
   * makes sure it never will, so the caller hears "not made" for certain. Without a fence a missing
   * witness stays "not confirmed".
   */
  #write<T>(fn: (commit: Commit) => Promise<T>): Promise<T> {
    this.#check();
    let stage: Stage = 'before-write';
    const commit: Commit = async (req, check) => {
      stage = 'write';
      let res: ITxnResponse;
      try {
        res = await this.#client.kv.txn(req);
      } catch (err) {
        if (classify(err) !== 'timed-out') throw err;
        const made = await this.#wasMade(check).catch(() => null);
        if (made === null) throw err;
        if (!made) {
          stage = 'before-write';
          throw err;
        }
        return { header: {} as ITxnResponse['header'], succeeded: true, responses: [] };
      }
      stage = 'before-write';
      return res;
    };
    return callEtcd(
      this.#endpoints,
      () => stage,
      () => fn(commit),
    );
  }

  /** Whether a transaction whose answer was lost happened: true, false, or null when it cannot tell. */
  async #wasMade(check: CommitCheck): Promise<boolean | null> {
    const { witness, fence } = check;
    const found = (kv: IKeyValue | undefined): boolean => kv !== undefined && kv.value.toString() === witness.value;
    if (fence === undefined) {
      const res = await readAgain(() => this.#client.kv.range({ key: Buffer.from(witness.key) }));
      return found(res.kvs[0]) || null;
    }
    const res = await this.#client.kv.txn({ compare: [fence.compare], success: [fence.write], failure: [get(witness.key)] });
    // The fence went in over the same counter value: the transaction did not happen before it, and
    // cannot after it. Else the counter moved: by this transaction (its witness is there) or another.
    return res.succeeded ? false : found(res.responses[0]?.response_range.kvs[0]);
  }

  /** What `commit` needs to find out whether a seq-guarded write happened: its event, and the counter. */
  #seqCheck(seqKv: IKeyValue | null, event: StoreEvent): CommitCheck {
    return {
      witness: { key: this.#k.event(event.seq), value: JSON.stringify(event) },
      fence: { compare: modIs(this.#k.seq, seqKv), write: put(this.#k.seq, String(seqOf(seqKv))) },
    };
  }

  async #get(key: string): Promise<IKeyValue | null> {
    const res = await readAgain(() => this.#client.kv.range({ key: Buffer.from(key) }));
    return res.kvs[0] ?? null;
  }

  async #getJson<T>(key: string): Promise<T | null> {
    const kv = await this.#get(key);
    return kv === null ? null : parse<T>(kv);
  }

  /**
   * Several keys in one round trip, as of one revision when they fit in one transaction (etcd takes
   * at most 128 operations in one; only long release lists need more).
   */
  async #getMany(keys: string[]): Promise<(IKeyValue | null)[]> {
    const found: (IKeyValue | null)[] = [];
    for (let i = 0; i < keys.length; i += TXN_OPS) {
      const chunk = keys.slice(i, i + TXN_OPS);
      const res = await readAgain(() => this.#client.kv.txn({ success: chunk.map(get) }));
      for (const r of res.responses) found.push(r.response_range.kvs[0] ?? null);
    }
    return found;
  }

  async #range(dir: string, options: { from?: string | undefined; limit?: number; desc?: boolean } = {}): Promise<IKeyValue[]> {
    const { key, range_end } = prefixRange(dir);
    const res = await readAgain(() =>
      this.#client.kv.range({
        key: options.from === undefined ? key : Buffer.from(options.from),
        range_end,
        limit: options.limit ?? 0,
        ...(options.desc === true ? { sort_order: SortOrder.Descend, sort_target: SortTarget.Key } : {}),
      }),
    );
    return res.kvs;
  }

  /** The seq counter, and the release an event names (null when it names none or one that is not there). */
  async #readForEvent(event: NewEvent): Promise<[IKeyValue | null, IKeyValue | null]> {
    const releaseId = event.releaseId ?? null;
    const [seqKv, releaseKv] = await this.#getMany(releaseId === null ? [this.#k.seq] : [this.#k.seq, this.#k.release(releaseId)]);
    return [seqKv ?? null, releaseKv ?? null];
  }

  /** The counter and the event with its two index copies. */
  #eventOps(event: StoreEvent): IRequestOp[] {
    const k = this.#k;
    const text = JSON.stringify(event);
    const seq = padSeq(event.seq);
    return [
      put(k.seq, String(event.seq)),
      put(k.event(event.seq), text),
      put(k.eventsOfService(event.service) + seq, text),
      ...(event.releaseId === null ? [] : [put(k.eventsOfRelease(event.releaseId) + seq, text)]),
    ];
  }
}

function toEvent(seq: number, time: string, input: Omit<NewEvent, 'type'>, type: EventType, phase?: Phase): StoreEvent {
  return {
    seq,
    time,
    service: input.service,
    releaseId: input.releaseId ?? null,
    type,
    ...(phase === undefined ? {} : { phase }),
    actor: input.actor,
    reason: input.reason,
    data: cloneJson(input.data ?? {}),
  };
}

/** Waits a little before the next try of a write another writer beat; refuses after WRITE_ATTEMPTS. */
async function contended(attempt: number, what: string): Promise<void> {
  if (attempt >= WRITE_ATTEMPTS) {
    throw conflict(`${what} lost the race to other writers ${attempt} times in a row; retry it`);
  }
  await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
}

function parse<T>(kv: IKeyValue): T {
  return JSON.parse(kv.value.toString()) as T;
}

function seqOf(kv: IKeyValue | null): number {
  return kv === null ? 0 : Number(kv.value.toString());
}

function generationOf(kv: IKeyValue | null): number {
  return kv === null ? 0 : Number(kv.value.toString());
}

const get = (key: string): IRequestOp => ({ request_range: { key: Buffer.from(key) } });
const put = (key: string, value: string): IRequestOp => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } });
const del = (key: string): IRequestOp => ({ request_delete_range: { key: Buffer.from(key) } });

/** The key is as it was read (its mod revision; 0 when it did not exist). */
function modIs(key: string, read: IKeyValue | null): ICompare {
  return { key: Buffer.from(key), target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: read?.mod_revision ?? 0 };
}

function valueIs(key: string, value: string): ICompare {
  return { key: Buffer.from(key), target: CompareTarget.Value, result: CompareResult.Equal, value: Buffer.from(value) };
}

function absent(key: string): ICompare {
  return { key: Buffer.from(key), target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 };
}
