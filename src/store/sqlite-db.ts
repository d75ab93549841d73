// The SQLite file under the store: opening it (owned, or a read-only copy when the stateDir cannot be
// written), its statements prepared once, and rows turned into records.
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { writeFault } from './faults.ts';
import { createPrivate, makeStateDir, PID_FILE, takeOwnership, writePid } from './ownership.ts';
import { TERMINAL_PHASES } from '../lifecycle.ts';
import { migrate } from './schema.ts';
import type {
  EventType,
  JsonObject,
  Phase,
  ReleaseRecord,
  ReplicaRecord,
  RouteState,
  StoreEvent,
  TokenRecord,
  TokenRole,
} from './types.ts';
import type { SlotName } from '../config/types.ts';

export const DB_FILE = 'cutover.db';
/** Nobody else can hold the file once we own it; this only covers a checkpoint's own waits. */
const BUSY_TIMEOUT = 5000;
/**
 * WAL pages (4 KiB) after which a commit checkpoints the log into the database. SQLite's default,
 * 1000 pages (~4 MB), let the log alone fill a 1 MB stateDir during a second release: every commit
 * appends whole pages (the event, its two indexes, the sequence), some 20 KB each.
 */
const WAL_AUTOCHECKPOINT_PAGES = 16;
/** After a checkpoint the log file is cut back to this size instead of keeping its largest. */
const WAL_SIZE_LIMIT = 64 * 1024;

export interface ReleaseRow {
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

export interface EventRow {
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

export interface TokenRow {
  id: string;
  name: string;
  role: string;
  hash: string;
  created_at: string;
  revoked_at: string | null;
}

export interface ReplicaRow {
  id: string;
  service: string;
  slot: string;
  version: string;
  idx: number;
  address: string;
  pid: number | null;
  start_time: string | null;
}

export type EventFilter = 'all' | 'release' | 'service';

/** Every statement, prepared once per connection (a store that recovers opens a new one). */
export interface Statements {
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
  putReplica: StatementSync;
  removeReplica: StatementSync;
  listReplicas: StatementSync;
}

/** An open connection: the stateDir's own file, or (`copy`) a private copy of it to read from. */
export interface Connection {
  db: DatabaseSync;
  q: Statements;
  /** The folder of the copy, removed when the store recovers or closes. */
  copy: string | null;
  /** Why the pid file could not be written (a full disk): it is written at the next write that works. */
  pidError: unknown;
}

/**
 * Opens the stateDir's own file for reading and writing and takes ownership of it. A pid file that
 * a full disk refuses is no reason to stop (it only names the owner): `pidError` says so.
 */
export function openOwned(dir: string, lockTimeout: number): Connection {
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
export function openCopy(dir: string): Connection {
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
export function prepare(db: DatabaseSync): Statements {
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
  const putReplica = p(
    `INSERT OR REPLACE INTO replicas (id, service, slot, version, idx, address, pid, start_time)
     VALUES ($id, $service, $slot, $version, $index, $address, $pid, $startTime)`,
  );
  const removeReplica = p('DELETE FROM replicas WHERE id = ?');
  const listReplicas = p('SELECT * FROM replicas WHERE service = ? ORDER BY slot, idx, id');
  return {
    putReplica,
    removeReplica,
    listReplicas,
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

export function parseObject(text: string): JsonObject {
  return JSON.parse(text) as JsonObject;
}

export function toRelease(row: ReleaseRow): ReleaseRecord {
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

export function toEvent(row: EventRow): StoreEvent {
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

export function toRouteState(row: { generation: number; state: string }): RouteState {
  return { ...(JSON.parse(row.state) as RouteState), generation: row.generation };
}

export function toToken(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    name: row.name,
    role: row.role as TokenRole,
    hash: row.hash,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

export function toReplica(row: ReplicaRow): ReplicaRecord {
  return {
    id: row.id,
    service: row.service,
    slot: row.slot as SlotName,
    version: row.version,
    index: row.idx,
    address: row.address,
    pid: row.pid,
    startTime: row.start_time,
  };
}
