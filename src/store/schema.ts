// The SQLite schema as an ordered list of migrations. `PRAGMA user_version` is the number applied;
// a migration is never edited once released: change the schema by appending one.

import type { DatabaseSync } from 'node:sqlite';
import { CutoverError } from '../errors.ts';

export interface Migration {
  version: number;
  why: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    why: 'releases and the event log their phases are derived from',
    sql: `
      CREATE TABLE releases (
        id         TEXT PRIMARY KEY,
        service    TEXT NOT NULL,
        version    TEXT NOT NULL,
        slot       TEXT NOT NULL CHECK (slot IN ('blue', 'green')),
        from_slot  TEXT CHECK (from_slot IN ('blue', 'green')),
        phase      TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        reason     TEXT,
        data       TEXT
      ) STRICT;
      CREATE INDEX releases_by_service ON releases (service, created_at);

      -- AUTOINCREMENT: a seq is never reused, even after the newest event is deleted, so an SSE client
      -- resuming after seq N never misses nor repeats one.
      CREATE TABLE events (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        time       TEXT NOT NULL,
        service    TEXT NOT NULL,
        release_id TEXT REFERENCES releases (id),
        type       TEXT NOT NULL,
        phase      TEXT,
        actor      TEXT NOT NULL,
        reason     TEXT NOT NULL,
        data       TEXT NOT NULL
      ) STRICT;
      CREATE INDEX events_by_release ON events (release_id, seq);
      CREATE INDEX events_by_service ON events (service, seq);
    `,
  },
  {
    version: 2,
    why: 'route state and API tokens; the database itself refuses a second active release per service',
    sql: `
      CREATE TABLE route_states (
        service    TEXT PRIMARY KEY,
        generation INTEGER NOT NULL,
        state      TEXT NOT NULL
      ) STRICT;

      CREATE TABLE tokens (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        role       TEXT NOT NULL CHECK (role IN ('viewer', 'deployer', 'admin')),
        hash       TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT
      ) STRICT;

      -- The terminal phases of src/lifecycle.ts, frozen here; the contract test ends a release in each of
      -- them and starts another, so a drift shows.
      CREATE UNIQUE INDEX one_active_release ON releases (service)
        WHERE phase NOT IN ('retired', 'failed', 'aborted', 'rolled-back');
    `,
  },
  {
    version: 3,
    why: "the process provider's replicas, recorded before they start, so a new controller adopts them",
    sql: `
      CREATE TABLE replicas (
        id         TEXT PRIMARY KEY,
        service    TEXT NOT NULL,
        slot       TEXT NOT NULL CHECK (slot IN ('blue', 'green')),
        version    TEXT NOT NULL,
        idx        INTEGER NOT NULL,
        address    TEXT NOT NULL,
        pid        INTEGER,
        start_time TEXT
      ) STRICT;
      CREATE INDEX replicas_by_service ON replicas (service, slot, idx);
    `,
  },
];

export const SCHEMA_VERSION: number = MIGRATIONS.length;

export function schemaVersion(db: DatabaseSync): number {
  const row = db.prepare('PRAGMA user_version').get() as { user_version: number } | undefined;
  return row?.user_version ?? 0;
}

/**
 * Brings `db` to `target` (default: the newest version), each migration in its own transaction with
 * its version bump, so a crash leaves the database at one version or the next, never in between.
 */
export function migrate(db: DatabaseSync, file: string, target: number = SCHEMA_VERSION): void {
  const current = schemaVersion(db);
  if (current > SCHEMA_VERSION) {
    throw new CutoverError(
      'CUTOVER_E_INTERNAL',
      `${file} has schema version ${current}, newer than this cutover knows (${SCHEMA_VERSION}); ` +
        'run the newer cutover that wrote it, or upgrade this one',
    );
  }
  for (const m of MIGRATIONS) {
    if (m.version <= current || m.version > target) continue;
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(m.sql);
      // PRAGMA takes no parameters; the version is our own integer.
      db.exec(`PRAGMA user_version = ${m.version}`);
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw new CutoverError(
        'CUTOVER_E_INTERNAL',
        `migrating ${file} to schema version ${m.version} failed; it is left at version ${m.version - 1}. ` +
          'Keep a copy of the file and report the error',
        500,
        { cause: err },
      );
    }
  }
}
