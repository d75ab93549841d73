// When the state directory cannot be written (disk full, read-only file system, permissions): one
// coded error that names the stateDir and the cause, for the API, the CLI and the release runner,
// which waits and retries instead of giving up (the routers keep serving their last route table).
import { accessSync, constants, statfsSync } from 'node:fs';
import { CutoverError, type ErrorCode } from '../errors.ts';

export const STORE_UNWRITABLE: ErrorCode = 'CUTOVER_E_STORE_UNWRITABLE';

/** Why a write to the stateDir failed, as the operator's tools (df, mount) would name it. */
export type WriteFault = 'ENOSPC' | 'EROFS' | 'EACCES' | 'EDQUOT' | 'EIO';

const WHAT: Record<WriteFault, string> = {
  ENOSPC: 'no space left on the device',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EDQUOT: 'disk quota exceeded',
  EIO: 'an I/O error',
};

const NEXT: Record<WriteFault, string> = {
  ENOSPC: 'free space there (`df -h`)',
  EROFS: 'mount it read-write',
  EACCES: 'give the daemon write access to it',
  EDQUOT: 'raise the quota or free space there',
  EIO: 'check the disk (`dmesg`)',
};

// SQLite's primary result codes that mean "the file could not be written" (sqlite3.h).
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const ERRNO_FAULTS = new Set<string>(['ENOSPC', 'EROFS', 'EACCES', 'EPERM', 'EDQUOT', 'EIO']);
/** Below this much free space a failed write is put down to a full disk. */
const NEARLY_FULL = 64 * 1024;

export class StoreUnwritableError extends CutoverError {
  readonly stateDir: string;
  readonly fault: WriteFault;
  constructor(stateDir: string, fault: WriteFault, options?: ErrorOptions) {
    super(
      STORE_UNWRITABLE,
      `the store in stateDir ${stateDir} cannot be written: ${WHAT[fault]} (${fault}); ${NEXT[fault]}. ` +
        'Nothing is changed until it can be recorded; the routers keep serving the last route table, and releases go on by themselves once it can be written',
      503,
      options,
    );
    this.name = 'StoreUnwritableError';
    this.stateDir = stateDir;
    this.fault = fault;
  }
}

/**
 * The fault behind `err` when it is a failed write to `dir` (an errno from node:fs, or SQLite's
 * FULL, READONLY, IOERR or CANTOPEN), else null. SQLite does not say which errno it met, so the
 * directory itself is asked: not writable, or (nearly) no free space.
 */
export function writeFault(err: unknown, dir: string): WriteFault | null {
  // The first error in the cause chain that is a file error: a failed migration wraps SQLite's.
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const fault = ownFault(e, dir);
    if (fault !== null) return fault;
  }
  return null;
}

function ownFault(err: Error, dir: string): WriteFault | null {
  if (err instanceof StoreUnwritableError) return err.fault;
  const e = err as { code?: unknown; errcode?: unknown };
  if (typeof e.code === 'string' && ERRNO_FAULTS.has(e.code)) return e.code === 'EPERM' ? 'EACCES' : (e.code as WriteFault);
  if (typeof e.errcode !== 'number') return null;
  const primary = e.errcode & 0xff;
  if (primary === SQLITE_FULL) return 'ENOSPC';
  if (primary !== SQLITE_READONLY && primary !== SQLITE_IOERR && primary !== SQLITE_CANTOPEN) return null;
  return probe(dir) ?? (primary === SQLITE_READONLY ? 'EROFS' : 'EIO');
}

/** What the directory says about writing to it now: EROFS/EACCES, ENOSPC when (nearly) full, else null. */
export function probe(dir: string): WriteFault | null {
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EROFS') return 'EROFS';
    if (code === 'EACCES' || code === 'EPERM') return 'EACCES';
    return null;
  }
  try {
    const fs = statfsSync(dir);
    if (fs.bavail * fs.bsize < NEARLY_FULL) return 'ENOSPC';
  } catch {
    // No statfs here: nothing more to tell.
  }
  return null;
}

/** The unwritable-store error that `err` is or was caused by (a step may wrap it), else null. */
export function unwritableIn(err: unknown): CutoverError | null {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if ((e as Partial<CutoverError>).code === STORE_UNWRITABLE) return e as CutoverError;
  }
  return null;
}

/** `err` as the coded error when it is a failed write to `dir`; otherwise `err` unchanged. */
export function asUnwritable(err: unknown, dir: string): unknown {
  if (unwritableIn(err) !== null) return err;
  const fault = writeFault(err, dir);
  return fault === null ? err : new StoreUnwritableError(dir, fault, { cause: err });
}
