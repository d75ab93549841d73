import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CutoverError } from '../errors.ts';
import { asUnwritable, type StoreUnwritableError, unwritableIn, writeFault } from './faults.ts';

const dir = mkdtempSync(join(tmpdir(), 'cutover-faults-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const sqlite = (errcode: number): Error => Object.assign(new Error('sqlite'), { code: 'ERR_SQLITE_ERROR', errcode });
const errno = (code: string): Error => Object.assign(new Error(code), { code });

test('a full disk, a read-only file system and refused permissions are told apart from other errors', () => {
  assert.equal(writeFault(sqlite(13), dir), 'ENOSPC', 'SQLITE_FULL');
  assert.equal(writeFault(errno('ENOSPC'), dir), 'ENOSPC');
  assert.equal(writeFault(errno('EROFS'), dir), 'EROFS');
  assert.equal(writeFault(errno('EPERM'), dir), 'EACCES');
  // A writable folder with room: SQLite's I/O error is only an I/O error, its READONLY a read-only file.
  assert.equal(writeFault(sqlite(10 | (15 << 8)), dir), 'EIO');
  assert.equal(writeFault(sqlite(8), dir), 'EROFS');
  assert.equal(writeFault(sqlite(19), dir), null, 'a constraint is not a disk fault');
  assert.equal(writeFault(errno('ENOENT'), dir), null);
  assert.equal(writeFault(new Error('plain'), dir), null);
});

test('a disk fault is found through the errors that wrap it, and the coded error names the stateDir and the cause', () => {
  const wrapped = new CutoverError('CUTOVER_E_INTERNAL', 'migrating failed', 500, { cause: sqlite(13) });
  assert.equal(writeFault(wrapped, dir), 'ENOSPC');
  const coded = asUnwritable(sqlite(13), dir) as StoreUnwritableError;
  assert.equal(coded.code, 'CUTOVER_E_STORE_UNWRITABLE');
  assert.equal(coded.status, 503);
  assert.ok(coded.message.includes(dir) && coded.message.includes('ENOSPC'), coded.message);
  const step = new CutoverError('CUTOVER_E_PROVISION_FAILED', 'provisioning failed', 500, { cause: coded });
  assert.equal(unwritableIn(step), coded);
  assert.equal(unwritableIn(new Error('other')), null);
  const other = new Error('other');
  assert.equal(asUnwritable(other, dir), other, 'other errors pass unchanged');
});
