// A Store in memory with the same semantics as the SQLite one (the shared contract test runs on both),
// for unit tests of the controller and the API. Everything it returns is a copy.

import { conflict, CutoverError, notFound } from '../errors.ts';
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

export interface MemoryStoreOptions {
  now?: () => Date;
}

export class MemoryStore implements Store {
  readonly #now: () => Date;
  // Insertion order is creation order, which listReleases and listTokens rely on.
  readonly #releases = new Map<string, ReleaseRecord>();
  readonly #events: StoreEvent[] = [];
  readonly #routes = new Map<string, RouteState>();
  readonly #tokens = new Map<string, TokenRecord>();
  #seq = 0;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.#now = options.now ?? (() => new Date());
  }

  async createRelease(input: NewRelease, event: EventInput): Promise<ReleaseRecord> {
    this.#open();
    const active = this.#active(input.service);
    if (active !== undefined) throw activeReleaseConflict(active);
    const id = input.id ?? newId('rel');
    if (this.#releases.has(id)) throw conflict(`a release ${id} exists already; choose another id`);
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
    this.#releases.set(id, release);
    this.#push(time, { ...event, service: input.service, releaseId: id }, 'phase', 'pending');
    return cloneJson(release);
  }

  async transition(releaseId: string, phase: Phase, input: TransitionInput): Promise<{ release: ReleaseRecord; event: StoreEvent }> {
    this.#open();
    const current = this.#releases.get(releaseId);
    if (current === undefined) throw releaseNotFound(releaseId);
    checkTransition(current, phase, input);
    const time = this.#time();
    const data = mergeData(current.data, input.releaseData);
    const release: ReleaseRecord = {
      ...current,
      phase,
      updatedAt: time,
      reason: input.reason,
      ...(data === undefined ? {} : { data }),
    };
    this.#releases.set(releaseId, release);
    const event = this.#push(time, { ...input, service: release.service, releaseId }, 'phase', phase);
    return { release: cloneJson(release), event: cloneJson(event) };
  }

  async appendEvent(input: NewEvent): Promise<StoreEvent> {
    this.#open();
    checkPhaseEventType(input);
    return cloneJson(this.#append(input));
  }

  async getRelease(id: string): Promise<ReleaseRecord | null> {
    this.#open();
    const r = this.#releases.get(id);
    return r === undefined ? null : cloneJson(r);
  }

  async activeRelease(service: string): Promise<ReleaseRecord | null> {
    this.#open();
    const r = this.#active(service);
    return r === undefined ? null : cloneJson(r);
  }

  async activeReleases(): Promise<ReleaseRecord[]> {
    this.#open();
    return cloneJson([...this.#releases.values()].filter((r) => !isTerminal(r.phase)));
  }

  async listReleases(service: string, options: { limit?: number } = {}): Promise<ReleaseRecord[]> {
    this.#open();
    const mine = [...this.#releases.values()].filter((r) => r.service === service).reverse();
    return cloneJson(mine.slice(0, limitOf(options.limit, DEFAULT_RELEASE_LIMIT)));
  }

  async events(query: EventQuery = {}): Promise<StoreEvent[]> {
    this.#open();
    const matching = this.#events.filter(
      (e) =>
        (query.releaseId === undefined || e.releaseId === query.releaseId) &&
        (query.service === undefined || e.service === query.service) &&
        (query.afterSeq === undefined || e.seq > query.afterSeq),
    );
    if (query.order === 'desc') matching.reverse();
    return cloneJson(matching.slice(0, limitOf(query.limit, DEFAULT_EVENT_LIMIT)));
  }

  async getRouteState(service: string): Promise<RouteState | null> {
    this.#open();
    const s = this.#routes.get(service);
    return s === undefined ? null : cloneJson(s);
  }

  async listRouteStates(): Promise<RouteState[]> {
    this.#open();
    return cloneJson([...this.#routes.values()].sort((a, b) => (a.service < b.service ? -1 : 1)));
  }

  async putRouteState(state: RouteState, options: PutRouteOptions): Promise<RouteState> {
    this.#open();
    checkRouteGeneration(state, options.expectGeneration);
    const actual = this.#routes.get(state.service)?.generation ?? 0;
    if (actual !== options.expectGeneration) {
      throw staleRouteConflict(state.service, options.expectGeneration, actual);
    }
    // Check the event before writing anything, so a bad event leaves the route state as it was.
    if (options.event !== undefined) this.#checkEvent(options.event);
    this.#routes.set(state.service, cloneJson(state));
    if (options.event !== undefined) this.#append(options.event);
    return cloneJson(state);
  }

  async createToken(input: NewToken): Promise<TokenRecord> {
    this.#open();
    const id = input.id ?? newId('tok');
    if (this.#tokens.has(id)) throw conflict(`a token ${id} exists already; choose another id`);
    for (const t of this.#tokens.values()) {
      if (t.hash === input.hash) throw conflict('a token with this secret exists already; create the token again');
    }
    const token: TokenRecord = {
      id,
      name: input.name,
      role: input.role,
      hash: input.hash,
      createdAt: this.#time(),
      revokedAt: null,
    };
    this.#tokens.set(id, token);
    return cloneJson(token);
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | null> {
    this.#open();
    for (const t of this.#tokens.values()) {
      if (t.hash === hash && t.revokedAt === null) return cloneJson(t);
    }
    return null;
  }

  async listTokens(): Promise<TokenRecord[]> {
    this.#open();
    return cloneJson([...this.#tokens.values()]);
  }

  async revokeToken(id: string): Promise<TokenRecord> {
    this.#open();
    const t = this.#tokens.get(id);
    if (t === undefined) throw notFound(`no token ${id}; list them with \`cutover token list\``);
    if (t.revokedAt === null) t.revokedAt = this.#time();
    return cloneJson(t);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #open(): void {
    if (this.#closed) throw new CutoverError('CUTOVER_E_INTERNAL', 'the memory store is closed; this is a bug, report it');
  }

  #active(service: string): ReleaseRecord | undefined {
    for (const r of this.#releases.values()) {
      if (r.service === service && !isTerminal(r.phase)) return r;
    }
    return undefined;
  }

  #time(): string {
    return this.#now().toISOString();
  }

  #checkEvent(input: NewEvent): void {
    checkPhaseEventType(input);
    const id = input.releaseId ?? null;
    checkEventRelease(input, id === null ? null : (this.#releases.get(id) ?? null));
  }

  #append(input: NewEvent): StoreEvent {
    this.#checkEvent(input);
    return this.#push(this.#time(), input, input.type);
  }

  #push(time: string, input: Omit<NewEvent, 'type'>, type: StoreEvent['type'], phase?: Phase): StoreEvent {
    const event: StoreEvent = {
      seq: ++this.#seq,
      time,
      service: input.service,
      releaseId: input.releaseId ?? null,
      type,
      ...(phase === undefined ? {} : { phase }),
      actor: input.actor,
      reason: input.reason,
      data: cloneJson(input.data ?? {}),
    };
    this.#events.push(event);
    return event;
  }
}
