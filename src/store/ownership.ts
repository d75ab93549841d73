// Who owns a state directory, and the files that go with it. Ownership is SQLite's own exclusive lock
// on the database; the pid file beside it only names the owner for the message a second one gets.

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { CutoverError } from '../errors.ts';

export const PID_FILE = 'cutover.pid';

const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_NOTADB = 26;

/**
 * Takes the state directory for this process, or refuses.
 *
 * Ownership is SQLite's own exclusive lock, held for as long as the connection is open
 * (`locking_mode = EXCLUSIVE`): the kernel drops it when the process dies however it dies, so there is
 * no stale lock to guess about and no pid-reuse to be fooled by. The pid file only lets the refusal
 * say who holds it. A side effect: while the daemon runs, a `sqlite3` shell cannot read the file.
 */
export function takeOwnership(db: DatabaseSync, file: string, pidFile: string): void {
  try {
    // EXCLUSIVE before the first WAL access also means no shared-memory index (-shm) is used.
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    const mode = db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode: string } | undefined;
    if (mode?.journal_mode !== 'wal') {
      throw new CutoverError(
        'CUTOVER_E_INTERNAL',
        `${file} could not be switched to WAL mode (${mode?.journal_mode}); is it on a network file system?`,
      );
    }
    // The lock is taken at the first write and then kept: take it now, not at the first transition.
    db.exec('BEGIN EXCLUSIVE');
    db.exec('COMMIT');
  } catch (err) {
    if (isSqliteError(err, SQLITE_BUSY) || isSqliteError(err, SQLITE_LOCKED)) {
      const pid = readPid(pidFile);
      const who = pid === null ? 'another process' : `another cutover (pid ${pid})`;
      const next = pid === null ? 'stop it' : `stop it (\`kill ${pid}\`)`;
      throw conflictFrom(`${file} is in use by ${who}; ${next}, or give this one another stateDir`, err);
    }
    if (isSqliteError(err, SQLITE_NOTADB)) {
      throw new CutoverError('CUTOVER_E_INTERNAL', `${file} is not a SQLite database; move it away or choose another stateDir`, 500, {
        cause: err,
      });
    }
    throw err;
  }
}

/**
 * Creates the state directory (0700: tokens' hashes live there) if it is missing, and makes its
 * entry durable, so that the first commits inside it cannot vanish with the directory on a power cut.
 */
export function makeStateDir(stateDir: string): void {
  const first = mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  if (first === undefined) return;
  for (let dir = stateDir; ; dir = dirname(dir)) {
    fsyncDir(dirname(dir));
    if (dir === first) break;
  }
}

/** The database file is created 0600 (tokens' hashes live in it); SQLite gives -wal the same mode. */
export function createPrivate(file: string, dir: string): void {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw err;
  }
  closeSync(fd);
  fsyncDir(dir);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Written beside and renamed over, so a reader never sees half a pid; a failed write leaves no temp file. */
export function writePid(pidFile: string): void {
  const tmp = `${pidFile}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${process.pid}\n`, { mode: 0o600 });
    renameSync(tmp, pidFile);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

function readPid(pidFile: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

export function conflictFrom(message: string, cause: unknown): CutoverError {
  return new CutoverError('CUTOVER_E_CONFLICT', message, 409, { cause });
}

export function isSqliteError(err: unknown, primary: number): boolean {
  const code = (err as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' && (code & 0xff) === primary;
}
