// The Store on one machine: a SQLite file (`cutover.db`) in the state directory, via node:sqlite.
// One daemon owns a state directory at a time; every write that records a transition is on disk
// before the call resolves. A stateDir that cannot be written (full, read-only) does not stop it:
// what it holds is still read, every write is refused with CUTOVER_E_STORE_UNWRITABLE naming the
// stateDir and the cause, and writes work again by themselves once the disk lets them.

import { copyFileSync, existsSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
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
import { conflictFrom, createPrivate, isSqliteError, makeStateDir, PID_FILE, takeOwnership, writePid } from './ownership.ts';
import { TERMINAL_PHASES } from '../lifecycle.ts';
import { migrate, schemaVersion } from './schema.ts';
import type {
  EventInput,
  EventQuery,
  EventType,
  JsonObject,
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
  TokenRole,
  TransitionInput,
} from './types.ts';
import type { SlotName } from '../config/types.ts';

export const DB_FILE = 'cutover.db';
export { PID_FILE };
/** How long open() waits for a previous owner (a daemon shutting down) to let go. */
export const DEFAULT_LOCK_TIMEOUT = 1000;
/** Nobody else can hold the file once we own it; this only covers a checkpoint's own waits. */
const BUSY_TIMEOUT = 5000;

const SQLITE_CONSTRAINT = 19;
/**
 * WAL pages (4 KiB) after which a commit checkpoints the log into the database. SQLite's default,
 * 1000 pages (~4 MB), let the log alone fill a 1 MB stateDir during a second release: every commit
 * appends whole pages (the event, its two indexes, the sequence), some 20 KB each.
 */
const WAL_AUTOCHECKPOINT_PAGES = 16;
/** After a checkpoint the log file is cut back to this size instead of keeping its largest. */
const WAL_SIZE_LIMIT = 64 * 1024;
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

interface ReleaseRow {
  id: string;
  service: string;
  version: string;
  slot: string;
  from_slot: string | null;
  phase: string;
  created_at: string;
  updated_at: string;
  reason: string | null;
  data: string | null;
}

interface EventRow {
  seq: number;
  time: string;
  service: string;
  release_id: string | null;
  type: string;
  phase: string | null;
  actor: string;
  reason: string;
  data: string;
}

interface TokenRow {
  id: string;
  name: string;
  role: string;
  hash: string;
  created_at: string;
  revoked_at: string | null;
}

type EventFilter = 'all' | 'release' | 'service';

/** Every statement, prepared once per connection (a store that recovers opens a new one). */
interface Statements {
  insertRelease: StatementSync;
  getRelease: StatementSync;
  activeRelease: StatementSync;
  activeReleases: StatementSync;
  listReleases: StatementSync;
  updateRelease: StatementSync;
  insertEvent: StatementSync;
  events: Record<`${EventFilter}:${'asc' | 'desc'}`, StatementSync>;
  getRoute: StatementSync;
  listRoutes: StatementSync;
  insertRoute: StatementSync;
  updateRoute: StatementSync;
  insertToken: StatementSync;
  getToken: StatementSync;
  findToken: StatementSync;
  listTokens: StatementSync;
  revokeToken: StatementSync;
}

/** An open connection: the stateDir's own file, or (`copy`) a private copy of it to read from. */
interface Connection {
  db: DatabaseSync;
  q: Statements;
  /** The folder of the copy, removed when the store recovers or closes. */
  copy: string | null;
  /** Why the pid file could not be written (a full disk): it is written at the next write that works. */
  pidError: unknown;
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
    return this.#tx(() => {
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
    });
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

/**
 * Opens the stateDir's own file for reading and writing and takes ownership of it. A pid file that
 * a full disk refuses is no reason to stop (it only names the owner): `pidError` says so.
 */
function openOwned(dir: string, lockTimeout: number): Connection {
  makeStateDir(dir);
  const file = join(dir, DB_FILE);
  const pidFile = join(dir, PID_FILE);
  createPrivate(file, dir);
  const db = new DatabaseSync(file, { timeout: lockTimeout });
  try {
    takeOwnership(db, file, pidFile);
    // FULL, not NORMAL. In WAL mode NORMAL fsyncs only at checkpoints, so a power cut can lose the
    // last commits although COMMIT returned: a transition whose effect (a route-table switch, a
    // stopped slot) was already visible would be missing from the record, and a restarted
    // controller would act on a past that did not happen. FULL fsyncs the WAL at every commit (and
    // SQLite fsyncs the directory when it creates the WAL). Our writes are a few per release step,
    // so one fsync each costs nothing that matters.
    db.exec('PRAGMA synchronous = FULL');
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT}`);
    db.exec('PRAGMA foreign_keys = ON');
    db.exec(`PRAGMA wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    db.exec(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT}`);
    migrate(db, file);
  } catch (err) {
    db.close();
    throw err;
  }
  let pidError: unknown = null;
  try {
    writePid(pidFile);
  } catch (err) {
    if (writeFault(err, dir) === null) {
      db.close();
      throw err;
    }
    pidError = err;
  }
  return { db, q: prepare(db), copy: null, pidError };
}

/**
 * The stateDir cannot be opened for writing (read-only, or a first start on a full disk): a private
 * copy of its file (with its WAL, so no commit is missed) in a temp folder, to read the last state
 * from. Nothing is written to it: the store refuses every write while it reads a copy.
 */
function openCopy(dir: string): Connection {
  const copy = mkdtempSync(join(tmpdir(), 'cutover-readonly-'));
  try {
    const file = join(copy, DB_FILE);
    for (const suffix of ['', '-wal']) {
      const from = join(dir, DB_FILE + suffix);
      if (existsSync(from)) copyFileSync(from, file + suffix);
    }
    const db = new DatabaseSync(file);
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.exec('PRAGMA foreign_keys = ON');
    migrate(db, file);
    return { db, q: prepare(db), copy, pidError: null };
  } catch (err) {
    rmSync(copy, { recursive: true, force: true });
    throw err;
  }
}

/** Prepares every statement on `db`. */
function prepare(db: DatabaseSync): Statements {
  const p = (sql: string): StatementSync => db.prepare(sql);
  const activeWhere = `phase NOT IN (${TERMINAL_PHASES.map((t) => `'${t}'`).join(', ')})`;
  const insertRelease = p(
    `INSERT INTO releases (id, service, version, slot, from_slot, phase, created_at, updated_at, reason, data)
     VALUES ($id, $service, $version, $slot, $fromSlot, 'pending', $time, $time, $reason, $data) RETURNING *`,
  );
  const getRelease = p('SELECT * FROM releases WHERE id = ?');
  const activeRelease = p(`SELECT * FROM releases WHERE service = ? AND ${activeWhere}`);
  const activeReleases = p(`SELECT * FROM releases WHERE ${activeWhere} ORDER BY created_at, rowid`);
  const listReleases = p('SELECT * FROM releases WHERE service = ? ORDER BY created_at DESC, rowid DESC LIMIT ?');
  const updateRelease = p(
    `UPDATE releases SET phase = $phase, updated_at = $time, reason = $reason, data = $data
     WHERE id = $id RETURNING *`,
  );
  const insertEvent = p(
    `INSERT INTO events (time, service, release_id, type, phase, actor, reason, data)
     VALUES ($time, $service, $releaseId, $type, $phase, $actor, $reason, $data) RETURNING *`,
  );
  // One statement per filter, so each can use its index.
  const where: Record<EventFilter, string> = {
    all: 'seq > $after',
    release: 'release_id = $releaseId AND ($service IS NULL OR service = $service) AND seq > $after',
    service: 'service = $service AND seq > $after',
  };
  const events = (f: EventFilter, order: 'ASC' | 'DESC'): StatementSync =>
    p(`SELECT * FROM events WHERE ${where[f]} ORDER BY seq ${order} LIMIT $limit`);
  const eventStatements = {
    'all:asc': events('all', 'ASC'),
    'all:desc': events('all', 'DESC'),
    'release:asc': events('release', 'ASC'),
    'release:desc': events('release', 'DESC'),
    'service:asc': events('service', 'ASC'),
    'service:desc': events('service', 'DESC'),
  };
  const getRoute = p('SELECT generation, state FROM route_states WHERE service = ?');
  const listRoutes = p('SELECT generation, state FROM route_states ORDER BY service');
  const insertRoute = p(
    'INSERT INTO route_states (service, generation, state) VALUES ($service, $generation, $state) ON CONFLICT DO NOTHING',
  );
  const updateRoute = p(
    'UPDATE route_states SET generation = $generation, state = $state WHERE service = $service AND generation = $expect',
  );
  const insertToken = p(
    `INSERT INTO tokens (id, name, role, hash, created_at, revoked_at)
     VALUES ($id, $name, $role, $hash, $time, NULL) RETURNING *`,
  );
  const getToken = p('SELECT * FROM tokens WHERE id = ?');
  const findToken = p('SELECT * FROM tokens WHERE hash = ? AND revoked_at IS NULL');
  const listTokens = p('SELECT * FROM tokens ORDER BY created_at, rowid');
  const revokeToken = p('UPDATE tokens SET revoked_at = coalesce(revoked_at, $time) WHERE id = $id RETURNING *');
  return {
    insertRelease,
    getRelease,
    activeRelease,
    activeReleases,
    listReleases,
    updateRelease,
    insertEvent,
    events: eventStatements,
    getRoute,
    listRoutes,
    insertRoute,
    updateRoute,
    insertToken,
    getToken,
    findToken,
    listTokens,
    revokeToken,
  };
}

function parseObject(text: string): JsonObject {
  return JSON.parse(text) as JsonObject;
}

function toRelease(row: ReleaseRow): ReleaseRecord {
  return {
    id: row.id,
    service: row.service,
    version: row.version,
    slot: row.slot as SlotName,
    fromSlot: row.from_slot as SlotName | null,
    phase: row.phase as Phase,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    ...(row.reason === null ? {} : { reason: row.reason }),
    ...(row.data === null ? {} : { data: parseObject(row.data) }),
  };
}

function toEvent(row: EventRow): StoreEvent {
  return {
    seq: row.seq,
    time: row.time,
    service: row.service,
    releaseId: row.release_id,
    type: row.type as EventType,
    ...(row.phase === null ? {} : { phase: row.phase as Phase }),
    actor: row.actor,
    reason: row.reason,
    data: parseObject(row.data),
  };
}

function toRouteState(row: { generation: number; state: string }): RouteState {
  return { ...(JSON.parse(row.state) as RouteState), generation: row.generation };
}

function toToken(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    name: row.name,
    role: row.role as TokenRole,
    hash: row.hash,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}
