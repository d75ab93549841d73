// The Store on one machine: a SQLite file (`cutover.db`) in the state directory, via node:sqlite.
// One daemon owns a state directory at a time; every write that records a transition is on disk
// before the call resolves. A stateDir that cannot be written (full, read-only) does not stop it:
// what it holds is still read, every write is refused with CUTOVER_E_STORE_UNWRITABLE naming the
// stateDir and the cause, and writes work again by themselves once the disk lets them.

import { rmSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { conflict, CutoverError, notFound } from '../errors.ts';
import {
  activeReleaseConflict,
  checkEventRelease,
  checkPhaseEventType,
  checkRouteGeneration,
  checkTransition,
  DEFAULT_EVENT_LIMIT,
  DEFAULT_RELEASE_LIMIT,
  limitOf,
  mergeData,
  newId,
  releaseNotFound,
  staleRouteConflict,
} from './rules.ts';
import { asUnwritable, probe, StoreUnwritableError, type WriteFault, writeFault } from './faults.ts';
import { conflictFrom, isSqliteError, PID_FILE, writePid } from './ownership.ts';
import { schemaVersion } from './schema.ts';
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
  ReplicaBook,
  ReplicaRecord,
  RouteState,
  Store,
  StoreEvent,
  TokenRecord,
  TransitionInput,
} from './types.ts';

import {
  type ReleaseRow,
  type EventRow,
  type TokenRow,
  type ReplicaRow,
  type EventFilter,
  type Statements,
  type Connection,
  openOwned,
  openCopy,
  toRelease,
  toEvent,
  toRouteState,
  toToken,
  toReplica,
  DB_FILE,
} from './sqlite-db.ts';
export { DB_FILE };
export { PID_FILE };
/** How long open() waits for a previous owner (a daemon shutting down) to let go. */
export const DEFAULT_LOCK_TIMEOUT = 1000;

const SQLITE_CONSTRAINT = 19;
/** How often a store that cannot write tries the stateDir again when nothing else writes. */
const RECOVER_INTERVAL = 2000;

export interface SqliteStoreOptions {
  now?: () => Date;
  lockTimeout?: number;
}

/** Why the store cannot write now, since when, and whether it reads a copy of the stateDir's file. */
export interface StoreFault {
  fault: WriteFault;
  since: string;
  message: string;
  /** True when the stateDir could not be opened for writing at all: reads come from a copy made then. */
  snapshot: boolean;
}

export class SqliteStore implements Store {
  /** Absolute path of the database file. */
  readonly file: string;
  readonly #dir: string;
  readonly #pidFile: string;
  readonly #now: () => Date;
  readonly #lockTimeout: number;
  #conn: Connection;
  #fault: StoreFault | null = null;
  #recoverTimer: NodeJS.Timeout | undefined;
  #closed = false;

  /**
   * Opens (creating if needed) the store in `stateDir`, takes ownership of it, and migrates the
   * schema. Refuses with CUTOVER_E_CONFLICT while another process owns it. A stateDir that cannot
   * be written opens anyway (see fault()): from a copy of its file when it cannot even be opened.
   */
  static open(stateDir: string, options: SqliteStoreOptions = {}): SqliteStore {
    const dir = resolve(stateDir);
    const lockTimeout = options.lockTimeout ?? DEFAULT_LOCK_TIMEOUT;
    let conn: Connection;
    let fault: WriteFault | null = null;
    try {
      conn = openOwned(dir, lockTimeout);
    } catch (err) {
      fault = writeFault(err, dir);
      if (fault === null) throw err;
      conn = openCopy(dir);
    }
    const store = new SqliteStore(dir, conn, options.now ?? (() => new Date()), lockTimeout);
    if (fault !== null) store.#failed(new StoreUnwritableError(dir, fault), true);
    else if (conn.pidError !== null) store.#failed(asUnwritable(conn.pidError, dir), false);
    return store;
  }

  private constructor(dir: string, conn: Connection, now: () => Date, lockTimeout: number) {
    this.#dir = dir;
    this.file = join(dir, DB_FILE);
    this.#pidFile = join(dir, PID_FILE);
    this.#conn = conn;
    this.#now = now;
    this.#lockTimeout = lockTimeout;
  }

  /** Why writes are refused now, or null when the store writes. */
  fault(): StoreFault | null {
    return this.#fault;
  }

  /** What `cutover status` and the tests can check about the file without opening it a second time. */
  info(): { file: string; schemaVersion: number; journalMode: string; synchronous: number } {
    this.#check();
    const get = <T>(sql: string): T => this.#db.prepare(sql).get() as T;
    return {
      file: this.file,
      schemaVersion: schemaVersion(this.#db),
      journalMode: get<{ journal_mode: string }>('PRAGMA journal_mode').journal_mode,
      synchronous: get<{ synchronous: number }>('PRAGMA synchronous').synchronous,
    };
  }

  get #db(): DatabaseSync {
    return this.#conn.db;
  }

  get #q(): Statements {
    return this.#conn.q;
  }

  async createRelease(input: NewRelease, event: EventInput): Promise<ReleaseRecord> {
    return this.#tx(() => {
      const active = this.#q.activeRelease.get(input.service) as ReleaseRow | undefined;
      if (active !== undefined) throw activeReleaseConflict(toRelease(active));
      const time = this.#time();
      const id = input.id ?? newId('rel');
      let row: ReleaseRow;
      try {
        row = this.#q.insertRelease.get({
          id,
          service: input.service,
          version: input.version,
          slot: input.slot,
          fromSlot: input.fromSlot,
          time,
          reason: event.reason,
          data: input.data === undefined ? null : JSON.stringify(input.data),
        }) as unknown as ReleaseRow;
      } catch (err) {
        if (isSqliteError(err, SQLITE_CONSTRAINT)) {
          throw conflictFrom(`a release ${id} exists already; choose another id`, err);
        }
        throw err;
      }
      this.#insert(time, { ...event, service: input.service, releaseId: id }, 'phase', 'pending');
      return toRelease(row);
    });
  }

  async transition(releaseId: string, phase: Phase, input: TransitionInput): Promise<{ release: ReleaseRecord; event: StoreEvent }> {
    // COMMIT returns only after the WAL is fsynced (synchronous = FULL), so when this resolves the
    // transition survives a crash or a power cut, and the caller may make its effect visible.
    const result = this.#tx(() => {
      const row = this.#q.getRelease.get(releaseId) as ReleaseRow | undefined;
      if (row === undefined) throw releaseNotFound(releaseId);
      const current = toRelease(row);
      checkTransition(current, phase, input);
      const time = this.#time();
      const data = mergeData(current.data, input.releaseData);
      const updated = this.#q.updateRelease.get({
        id: releaseId,
        phase,
        time,
        reason: input.reason,
        data: data === undefined ? null : JSON.stringify(data),
      }) as unknown as ReleaseRow;
      const event = this.#insert(time, { ...input, service: current.service, releaseId }, 'phase', phase);
      return { release: toRelease(updated), event };
    });
    // A phase is a natural point to fold the log into the database: it stays a few pages long.
    this.#checkpoint();
    return result;
  }

  async appendEvent(input: NewEvent): Promise<StoreEvent> {
    return this.#tx(() => this.#append(input));
  }

  async getRelease(id: string): Promise<ReleaseRecord | null> {
    this.#check();
    const row = this.#q.getRelease.get(id) as ReleaseRow | undefined;
    return row === undefined ? null : toRelease(row);
  }

  async activeRelease(service: string): Promise<ReleaseRecord | null> {
    this.#check();
    const row = this.#q.activeRelease.get(service) as ReleaseRow | undefined;
    return row === undefined ? null : toRelease(row);
  }

  async activeReleases(): Promise<ReleaseRecord[]> {
    this.#check();
    return (this.#q.activeReleases.all() as unknown as ReleaseRow[]).map(toRelease);
  }

  async listReleases(service: string, options: { limit?: number } = {}): Promise<ReleaseRecord[]> {
    this.#check();
    const rows = this.#q.listReleases.all(service, limitOf(options.limit, DEFAULT_RELEASE_LIMIT));
    return (rows as unknown as ReleaseRow[]).map(toRelease);
  }

  async events(query: EventQuery = {}): Promise<StoreEvent[]> {
    this.#check();
    const filter: EventFilter = query.releaseId !== undefined ? 'release' : query.service !== undefined ? 'service' : 'all';
    const params: Record<string, string | number | null> = {
      after: query.afterSeq ?? 0,
      limit: limitOf(query.limit, DEFAULT_EVENT_LIMIT),
    };
    if (filter === 'release') params.releaseId = query.releaseId ?? null;
    if (filter !== 'all') params.service = query.service ?? null;
    const rows = this.#q.events[`${filter}:${query.order === 'desc' ? 'desc' : 'asc'}`].all(params);
    return (rows as unknown as EventRow[]).map(toEvent);
  }

  async getRouteState(service: string): Promise<RouteState | null> {
    this.#check();
    const row = this.#q.getRoute.get(service) as { generation: number; state: string } | undefined;
    return row === undefined ? null : toRouteState(row);
  }

  async listRouteStates(): Promise<RouteState[]> {
    this.#check();
    return (this.#q.listRoutes.all() as unknown as { generation: number; state: string }[]).map(toRouteState);
  }

  async putRouteState(state: RouteState, options: PutRouteOptions): Promise<RouteState> {
    checkRouteGeneration(state, options.expectGeneration);
    return this.#tx(() => this.#putRoute(state, options));
  }

  /** Several services' route states in one transaction: a conflict on any one writes none. */
  async putRouteStates(changes: { state: RouteState; options: PutRouteOptions }[]): Promise<RouteState[]> {
    for (const c of changes) checkRouteGeneration(c.state, c.options.expectGeneration);
    return this.#tx(() => changes.map((c) => this.#putRoute(c.state, c.options)));
  }

  #putRoute(state: RouteState, options: PutRouteOptions): RouteState {
    {
      const params = { service: state.service, generation: state.generation, state: JSON.stringify(state) };
      const changed =
        options.expectGeneration === 0
          ? this.#q.insertRoute.run(params).changes
          : this.#q.updateRoute.run({ ...params, expect: options.expectGeneration }).changes;
      if (Number(changed) !== 1) {
        const actual = this.#q.getRoute.get(state.service) as { generation: number } | undefined;
        throw staleRouteConflict(state.service, options.expectGeneration, actual?.generation ?? 0);
      }
      if (options.event !== undefined) this.#append(options.event);
      return toRouteState({ generation: state.generation, state: params.state });
    }
  }

  async createToken(input: NewToken): Promise<TokenRecord> {
    return this.#tx(() => {
      const id = input.id ?? newId('tok');
      try {
        const row = this.#q.insertToken.get({ id, name: input.name, role: input.role, hash: input.hash, time: this.#time() });
        return toToken(row as unknown as TokenRow);
      } catch (err) {
        if (!isSqliteError(err, SQLITE_CONSTRAINT)) throw err;
        if (this.#q.getToken.get(id) !== undefined) throw conflict(`a token ${id} exists already; choose another id`);
        throw conflictFrom('a token with this secret exists already; create the token again', err);
      }
    });
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | null> {
    this.#check();
    const row = this.#q.findToken.get(hash) as TokenRow | undefined;
    return row === undefined ? null : toToken(row);
  }

  async listTokens(): Promise<TokenRecord[]> {
    this.#check();
    return (this.#q.listTokens.all() as unknown as TokenRow[]).map(toToken);
  }

  async revokeToken(id: string): Promise<TokenRecord> {
    return this.#tx(() => {
      const row = this.#q.revokeToken.get({ id, time: this.#time() }) as TokenRow | undefined;
      if (row === undefined) throw notFound(`no token ${id}; list them with \`cutover token list\``);
      return toToken(row);
    });
  }

  replicas(): ReplicaBook {
    return {
      put: async (records: readonly ReplicaRecord[]) =>
        this.#tx(() => {
          for (const r of records) this.#q.putReplica.run({ ...r });
        }),
      remove: async (ids: readonly string[]) =>
        this.#tx(() => {
          for (const id of ids) this.#q.removeReplica.run(id);
        }),
      list: async (service: string) => {
        this.#check();
        return (this.#q.listReplicas.all(service) as unknown as ReplicaRow[]).map(toReplica);
      },
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#recoverTimer);
    const { db, copy } = this.#conn;
    // While we still hold the lock nobody else can have written the pid file, so it is ours to remove.
    if (copy === null) {
      try {
        unlinkSync(this.#pidFile);
      } catch {
        // Already gone (or never written: a full disk): nothing to clean.
      }
    }
    // Checkpoints the WAL into the database file and removes it; on a full disk the WAL stays, whole,
    // and the next open reads it.
    try {
      db.close();
    } catch {
      // Nothing more can be done for a file the disk refuses; every commit is in the WAL already.
    }
    if (copy !== null) rmSync(copy, { recursive: true, force: true });
  }

  #check(): void {
    if (this.#closed) {
      throw new CutoverError('CUTOVER_E_INTERNAL', `the store ${this.file} is closed; this is a bug, report it`);
    }
  }

  #time(): string {
    return this.#now().toISOString();
  }

  /**
   * Runs `fn` in one write transaction: everything it wrote commits together, or nothing does. A
   * stateDir that refuses the write is CUTOVER_E_STORE_UNWRITABLE; a store reading a copy (the
   * stateDir could not be opened for writing) tries the stateDir again first.
   */
  #tx<T>(fn: () => T): T {
    this.#check();
    if (this.#conn.copy !== null) this.#recover();
    const db = this.#db;
    try {
      db.exec('BEGIN IMMEDIATE');
      const result = fn();
      db.exec('COMMIT');
      if (this.#fault !== null) this.#recovered();
      return result;
    } catch (err) {
      try {
        if (db.isTransaction) db.exec('ROLLBACK');
      } catch {
        // SQLite rolls back by itself a transaction whose write failed.
      }
      const coded = asUnwritable(err, this.#dir);
      if (coded instanceof StoreUnwritableError) this.#failed(coded, false);
      throw coded;
    }
  }

  /** Folds the WAL into the database and truncates it; a disk too full for it leaves the WAL whole. */
  #checkpoint(): void {
    try {
      this.#db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    } catch {
      // The commits are safe in the WAL; the next checkpoint (or close) folds them in.
    }
  }

  /** Writes are refused from now on, until one works again; a timer keeps trying when nothing writes. */
  #failed(err: unknown, snapshot: boolean): void {
    const coded = err instanceof StoreUnwritableError ? err : new StoreUnwritableError(this.#dir, 'EIO', { cause: err });
    const since = this.#fault?.since ?? this.#time();
    this.#fault = { fault: coded.fault, since, message: coded.message, snapshot: snapshot || this.#conn.copy !== null };
    if (this.#recoverTimer === undefined) {
      this.#recoverTimer = setInterval(() => this.#retry(), RECOVER_INTERVAL);
      this.#recoverTimer.unref();
    }
  }

  /** The timer's attempt: take the stateDir back (copy), or write the pid file that a full disk refused. */
  #retry(): void {
    if (this.#closed) return;
    try {
      if (this.#conn.copy !== null) this.#recover();
      else {
        writePid(this.#pidFile);
        this.#conn.pidError = null;
        // The pid file fit; a real write says more, so the fault stays until the next commit works.
        if (this.#fault !== null && probe(this.#dir) === null) this.#recovered();
      }
    } catch {
      // Still refused: the fault stays, and the next attempt comes with the timer or the next write.
    }
  }

  /** A write worked: the fault is over. */
  #recovered(): void {
    this.#fault = null;
    clearInterval(this.#recoverTimer);
    this.#recoverTimer = undefined;
    if (this.#conn.pidError !== null) {
      try {
        writePid(this.#pidFile);
        this.#conn.pidError = null;
      } catch {
        // Only names the owner in a refusal; the next successful write tries again.
      }
    }
  }

  /**
   * Reading a copy: opens the stateDir's own file again, now that it may be writable, and reads and
   * writes it from now on. Nobody wrote the copy (every write was refused), so nothing is lost.
   * Throws CUTOVER_E_STORE_UNWRITABLE while the stateDir still refuses.
   */
  #recover(): void {
    let conn: Connection;
    try {
      conn = openOwned(this.#dir, this.#lockTimeout);
    } catch (err) {
      const coded = asUnwritable(err, this.#dir);
      if (coded instanceof StoreUnwritableError) this.#failed(coded, true);
      throw coded;
    }
    const old = this.#conn;
    this.#conn = conn;
    try {
      old.db.close();
    } catch {
      // A copy in a temp folder: nothing of it matters any more.
    }
    if (old.copy !== null) rmSync(old.copy, { recursive: true, force: true });
    if (conn.pidError === null) this.#recovered();
    else this.#failed(asUnwritable(conn.pidError, this.#dir), false);
  }

  #append(input: NewEvent): StoreEvent {
    checkPhaseEventType(input);
    const releaseId = input.releaseId ?? null;
    const release = releaseId === null ? null : (this.#q.getRelease.get(releaseId) as ReleaseRow | undefined);
    checkEventRelease(input, release === null || release === undefined ? null : toRelease(release));
    return this.#insert(this.#time(), input, input.type);
  }

  #insert(time: string, input: Omit<NewEvent, 'type'>, type: EventType, phase?: Phase): StoreEvent {
    const row = this.#q.insertEvent.get({
      time,
      service: input.service,
      releaseId: input.releaseId ?? null,
      type,
      phase: phase ?? null,
      actor: input.actor,
      reason: input.reason,
      data: JSON.stringify(input.data ?? {}),
    });
    return toEvent(row as unknown as EventRow);
  }
}
