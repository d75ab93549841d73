// The Store on one machine: a SQLite file (`cutover.db`) in the state directory, via node:sqlite.
// One daemon owns a state directory at a time; every write that records a transition is on disk
// before the call resolves.

import { unlinkSync } from 'node:fs';
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

export interface SqliteStoreOptions {
  now?: () => Date;
  lockTimeout?: number;
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

export class SqliteStore implements Store {
  /** Absolute path of the database file. */
  readonly file: string;
  readonly #db: DatabaseSync;
  readonly #pidFile: string;
  readonly #now: () => Date;
  #closed = false;

  readonly #insertRelease: StatementSync;
  readonly #getRelease: StatementSync;
  readonly #activeRelease: StatementSync;
  readonly #activeReleases: StatementSync;
  readonly #listReleases: StatementSync;
  readonly #updateRelease: StatementSync;
  readonly #insertEvent: StatementSync;
  readonly #events: Record<`${EventFilter}:${'asc' | 'desc'}`, StatementSync>;
  readonly #getRoute: StatementSync;
  readonly #listRoutes: StatementSync;
  readonly #insertRoute: StatementSync;
  readonly #updateRoute: StatementSync;
  readonly #insertToken: StatementSync;
  readonly #getToken: StatementSync;
  readonly #findToken: StatementSync;
  readonly #listTokens: StatementSync;
  readonly #revokeToken: StatementSync;

  /**
   * Opens (creating if needed) the store in `stateDir`, takes ownership of it, and migrates the
   * schema. Refuses with CUTOVER_E_CONFLICT while another process owns it.
   */
  static open(stateDir: string, options: SqliteStoreOptions = {}): SqliteStore {
    const dir = resolve(stateDir);
    makeStateDir(dir);
    const file = join(dir, DB_FILE);
    const pidFile = join(dir, PID_FILE);
    createPrivate(file, dir);
    const db = new DatabaseSync(file, { timeout: options.lockTimeout ?? DEFAULT_LOCK_TIMEOUT });
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
      migrate(db, file);
    } catch (err) {
      db.close();
      throw err;
    }
    writePid(pidFile);
    return new SqliteStore(db, file, pidFile, options.now ?? (() => new Date()));
  }

  private constructor(db: DatabaseSync, file: string, pidFile: string, now: () => Date) {
    this.#db = db;
    this.file = file;
    this.#pidFile = pidFile;
    this.#now = now;
    const p = (sql: string): StatementSync => db.prepare(sql);
    const activeWhere = `phase NOT IN (${TERMINAL_PHASES.map((t) => `'${t}'`).join(', ')})`;
    this.#insertRelease = p(
      `INSERT INTO releases (id, service, version, slot, from_slot, phase, created_at, updated_at, reason, data)
       VALUES ($id, $service, $version, $slot, $fromSlot, 'pending', $time, $time, $reason, $data) RETURNING *`,
    );
    this.#getRelease = p('SELECT * FROM releases WHERE id = ?');
    this.#activeRelease = p(`SELECT * FROM releases WHERE service = ? AND ${activeWhere}`);
    this.#activeReleases = p(`SELECT * FROM releases WHERE ${activeWhere} ORDER BY created_at, rowid`);
    this.#listReleases = p('SELECT * FROM releases WHERE service = ? ORDER BY created_at DESC, rowid DESC LIMIT ?');
    this.#updateRelease = p(
      `UPDATE releases SET phase = $phase, updated_at = $time, reason = $reason, data = $data
       WHERE id = $id RETURNING *`,
    );
    this.#insertEvent = p(
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
    this.#events = {
      'all:asc': events('all', 'ASC'),
      'all:desc': events('all', 'DESC'),
      'release:asc': events('release', 'ASC'),
      'release:desc': events('release', 'DESC'),
      'service:asc': events('service', 'ASC'),
      'service:desc': events('service', 'DESC'),
    };
    this.#getRoute = p('SELECT generation, state FROM route_states WHERE service = ?');
    this.#listRoutes = p('SELECT generation, state FROM route_states ORDER BY service');
    this.#insertRoute = p(
      'INSERT INTO route_states (service, generation, state) VALUES ($service, $generation, $state) ON CONFLICT DO NOTHING',
    );
    this.#updateRoute = p(
      'UPDATE route_states SET generation = $generation, state = $state WHERE service = $service AND generation = $expect',
    );
    this.#insertToken = p(
      `INSERT INTO tokens (id, name, role, hash, created_at, revoked_at)
       VALUES ($id, $name, $role, $hash, $time, NULL) RETURNING *`,
    );
    this.#getToken = p('SELECT * FROM tokens WHERE id = ?');
    this.#findToken = p('SELECT * FROM tokens WHERE hash = ? AND revoked_at IS NULL');
    this.#listTokens = p('SELECT * FROM tokens ORDER BY created_at, rowid');
    this.#revokeToken = p('UPDATE tokens SET revoked_at = coalesce(revoked_at, $time) WHERE id = $id RETURNING *');
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

  async createRelease(input: NewRelease, event: EventInput): Promise<ReleaseRecord> {
    return this.#tx(() => {
      const active = this.#activeRelease.get(input.service) as ReleaseRow | undefined;
      if (active !== undefined) throw activeReleaseConflict(toRelease(active));
      const time = this.#time();
      const id = input.id ?? newId('rel');
      let row: ReleaseRow;
      try {
        row = this.#insertRelease.get({
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
    return this.#tx(() => {
      const row = this.#getRelease.get(releaseId) as ReleaseRow | undefined;
      if (row === undefined) throw releaseNotFound(releaseId);
      const current = toRelease(row);
      checkTransition(current, phase, input);
      const time = this.#time();
      const data = mergeData(current.data, input.releaseData);
      const updated = this.#updateRelease.get({
        id: releaseId,
        phase,
        time,
        reason: input.reason,
        data: data === undefined ? null : JSON.stringify(data),
      }) as unknown as ReleaseRow;
      const event = this.#insert(time, { ...input, service: current.service, releaseId }, 'phase', phase);
      return { release: toRelease(updated), event };
    });
  }

  async appendEvent(input: NewEvent): Promise<StoreEvent> {
    return this.#tx(() => this.#append(input));
  }

  async getRelease(id: string): Promise<ReleaseRecord | null> {
    this.#check();
    const row = this.#getRelease.get(id) as ReleaseRow | undefined;
    return row === undefined ? null : toRelease(row);
  }

  async activeRelease(service: string): Promise<ReleaseRecord | null> {
    this.#check();
    const row = this.#activeRelease.get(service) as ReleaseRow | undefined;
    return row === undefined ? null : toRelease(row);
  }

  async activeReleases(): Promise<ReleaseRecord[]> {
    this.#check();
    return (this.#activeReleases.all() as unknown as ReleaseRow[]).map(toRelease);
  }

  async listReleases(service: string, options: { limit?: number } = {}): Promise<ReleaseRecord[]> {
    this.#check();
    const rows = this.#listReleases.all(service, limitOf(options.limit, DEFAULT_RELEASE_LIMIT));
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
    const rows = this.#events[`${filter}:${query.order === 'desc' ? 'desc' : 'asc'}`].all(params);
    return (rows as unknown as EventRow[]).map(toEvent);
  }

  async getRouteState(service: string): Promise<RouteState | null> {
    this.#check();
    const row = this.#getRoute.get(service) as { generation: number; state: string } | undefined;
    return row === undefined ? null : toRouteState(row);
  }

  async listRouteStates(): Promise<RouteState[]> {
    this.#check();
    return (this.#listRoutes.all() as unknown as { generation: number; state: string }[]).map(toRouteState);
  }

  async putRouteState(state: RouteState, options: PutRouteOptions): Promise<RouteState> {
    checkRouteGeneration(state, options.expectGeneration);
    return this.#tx(() => {
      const params = { service: state.service, generation: state.generation, state: JSON.stringify(state) };
      const changed =
        options.expectGeneration === 0
          ? this.#insertRoute.run(params).changes
          : this.#updateRoute.run({ ...params, expect: options.expectGeneration }).changes;
      if (Number(changed) !== 1) {
        const actual = this.#getRoute.get(state.service) as { generation: number } | undefined;
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
        const row = this.#insertToken.get({ id, name: input.name, role: input.role, hash: input.hash, time: this.#time() });
        return toToken(row as unknown as TokenRow);
      } catch (err) {
        if (!isSqliteError(err, SQLITE_CONSTRAINT)) throw err;
        if (this.#getToken.get(id) !== undefined) throw conflict(`a token ${id} exists already; choose another id`);
        throw conflictFrom('a token with this secret exists already; create the token again', err);
      }
    });
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | null> {
    this.#check();
    const row = this.#findToken.get(hash) as TokenRow | undefined;
    return row === undefined ? null : toToken(row);
  }

  async listTokens(): Promise<TokenRecord[]> {
    this.#check();
    return (this.#listTokens.all() as unknown as TokenRow[]).map(toToken);
  }

  async revokeToken(id: string): Promise<TokenRecord> {
    return this.#tx(() => {
      const row = this.#revokeToken.get({ id, time: this.#time() }) as TokenRow | undefined;
      if (row === undefined) throw notFound(`no token ${id}; list them with \`cutover token list\``);
      return toToken(row);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // While we still hold the lock nobody else can have written the pid file, so it is ours to remove.
    try {
      unlinkSync(this.#pidFile);
    } catch {
      // Already gone: nothing to clean.
    }
    // Checkpoints the WAL into the database file and removes it.
    this.#db.close();
  }

  #check(): void {
    if (this.#closed) {
      throw new CutoverError('CUTOVER_E_INTERNAL', `the store ${this.file} is closed; this is a bug, report it`);
    }
  }

  #time(): string {
    return this.#now().toISOString();
  }

  /** Runs `fn` in one write transaction: everything it wrote commits together, or nothing does. */
  #tx<T>(fn: () => T): T {
    this.#check();
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.#db.exec('COMMIT');
      return result;
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  #append(input: NewEvent): StoreEvent {
    checkPhaseEventType(input);
    const releaseId = input.releaseId ?? null;
    const release = releaseId === null ? null : (this.#getRelease.get(releaseId) as ReleaseRow | undefined);
    checkEventRelease(input, release === null || release === undefined ? null : toRelease(release));
    return this.#insert(this.#time(), input, input.type);
  }

  #insert(time: string, input: Omit<NewEvent, 'type'>, type: EventType, phase?: Phase): StoreEvent {
    const row = this.#insertEvent.get({
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
