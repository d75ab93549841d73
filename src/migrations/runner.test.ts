import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { procStat } from '../providers/groups.ts';
import { MigrationSetupError, MigrationUnsafeError } from './errors.ts';
import { lintBeforeExpand, runMigration } from './runner.ts';

let dir = '';
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'cutover-runner-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

// Running, not a zombie: where PID 1 does not reap, killed orphans linger as zombies that run nothing.
const running = (pid: number): boolean => {
  const s = procStat(pid);
  return s !== null && s.state !== 'Z' && s.state !== 'X';
};
async function gone(pid: number, timeoutMs = 3_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (running(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

describe('runMigration', () => {
  test('runs the command in its folder under /bin/sh and returns its output and exit code', async () => {
    const r = await runMigration('expand', 'echo "phase=$CUTOVER_MIGRATION in $(pwd)"; echo oops >&2', { cwd: dir, timeoutMs: 10_000 });
    assert.equal(r.ok, true);
    assert.equal(r.exitCode, 0);
    assert.equal(r.kind, 'expand');
    assert.equal(r.output, `phase=expand in ${dir}\noops\n`);
    assert.ok(r.durationMs >= 0 && r.durationMs < 10_000);
  });

  test('a command that exits non-zero is not ok and keeps what it said', async () => {
    const r = await runMigration('contract', 'echo "relation users does not exist"; exit 3', { cwd: dir, timeoutMs: 10_000 });
    assert.equal(r.ok, false);
    assert.equal(r.exitCode, 3);
    assert.equal(r.timedOut, false);
    assert.match(r.output, /relation users does not exist/);
  });

  test('the database URL reaches the command in the variable migrations.database names', async () => {
    const url = 'postgres://app@127.0.0.1:5432/app';
    const r = await runMigration('expand', 'printf %s "$APP_DB"', {
      cwd: dir,
      env: { PATH: process.env.PATH },
      databaseEnvName: 'APP_DB',
      databaseUrl: url,
      timeoutMs: 10_000,
    });
    assert.equal(r.output, url);
    const inherited = await runMigration('expand', 'printf %s "$APP_DB"', {
      cwd: dir,
      env: { PATH: process.env.PATH, APP_DB: 'postgres://from-env/db' },
      databaseEnvName: 'APP_DB',
      timeoutMs: 10_000,
    });
    assert.equal(inherited.output, 'postgres://from-env/db');
  });

  test('a database variable that is not set refuses before anything runs', async () => {
    const marker = path.join(dir, 'ran');
    await assert.rejects(
      runMigration('expand', `touch ${marker}`, {
        cwd: dir,
        env: { PATH: process.env.PATH },
        databaseEnvName: 'APP_DB',
        timeoutMs: 10_000,
      }),
      (err: unknown) => err instanceof MigrationSetupError && /APP_DB is not set/.test(err.message),
    );
    assert.throws(() => readFileSync(marker));
  });

  test('at the timeout the command is stopped together with what it started', async () => {
    const pidFile = path.join(dir, 'child.pid');
    const started = Date.now();
    const r = await runMigration('expand', `sleep 30 & echo $! > ${pidFile}; echo started; wait`, {
      cwd: dir,
      timeoutMs: 300,
      killGraceMs: 2_000,
    });
    assert.ok(Date.now() - started < 5_000, 'returned within the grace period');
    assert.equal(r.ok, false);
    assert.equal(r.timedOut, true);
    assert.match(r.output, /^started\n\[cutover: stopped after 300 ms/);
    const child = Number(readFileSync(pidFile, 'utf8'));
    assert.equal(await gone(child), true, 'the sleep the shell started is gone too');
  });

  test('a command that ignores SIGTERM is killed after the grace period', async () => {
    const r = await runMigration('contract', "trap '' TERM; echo stubborn; while :; do sleep 0.05; done", {
      cwd: dir,
      timeoutMs: 200,
      killGraceMs: 300,
    });
    assert.equal(r.timedOut, true);
    assert.equal(r.signal, 'SIGKILL');
  });

  test('an abort stops the command, and an abort before the start runs nothing', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const r = await runMigration('expand', 'sleep 30', { cwd: dir, timeoutMs: 30_000, signal: ac.signal });
    assert.equal(r.aborted, true);
    assert.equal(r.ok, false);
    assert.equal(r.output, '[cutover: stopped: the release was aborted]\n');
    const marker = path.join(dir, 'aborted-ran');
    const early = await runMigration('expand', `touch ${marker}`, { cwd: dir, timeoutMs: 10_000, signal: AbortSignal.abort() });
    assert.equal(early.aborted, true);
    assert.throws(() => readFileSync(marker));
  });

  test('output is bounded, and the end of it is what is kept', async () => {
    const r = await runMigration('expand', 'i=0; while [ $i -lt 3000 ]; do echo "line $i of migration output"; i=$((i+1)); done', {
      cwd: dir,
      timeoutMs: 20_000,
      maxOutputBytes: 4096,
    });
    assert.equal(r.ok, true);
    assert.equal(r.truncated, true);
    assert.ok(Buffer.byteLength(r.output) < 4096 + 100);
    assert.match(r.output, /^\[cutover: earlier output cut/);
    assert.match(r.output, /line 2999 of migration output\n$/);
  });

  test('what the shell leaves running after it exits does not hold the result back', async () => {
    const pidFile = path.join(dir, 'bg.pid');
    const started = Date.now();
    const r = await runMigration('expand', `sleep 30 & echo $! > ${pidFile}; echo done`, { cwd: dir, timeoutMs: 20_000 });
    assert.equal(r.ok, true);
    assert.ok(Date.now() - started < 5_000);
    const bg = Number(readFileSync(pidFile, 'utf8'));
    assert.equal(await gone(bg), true, 'the leftover sleep was stopped');
  });

  test('a folder that does not exist is a setup error that names it', async () => {
    await assert.rejects(
      runMigration('expand', 'true', { cwd: path.join(dir, 'missing'), timeoutMs: 1000 }),
      (err: unknown) => err instanceof MigrationSetupError && err.message.includes('missing'),
    );
  });
});

describe('lintBeforeExpand', () => {
  test('refuses expand files that would break the live version, naming the first one', async () => {
    const d = path.join(dir, 'refuse');
    mkdirSync(d);
    writeFileSync(path.join(d, '001.sql'), 'ALTER TABLE users ADD COLUMN bio text;\nALTER TABLE users RENAME COLUMN name TO full_name;\n');
    await assert.rejects(lintBeforeExpand('*.sql', d), (err: unknown) => {
      assert.ok(err instanceof MigrationUnsafeError);
      assert.equal(err.code, 'CUTOVER_E_MIGRATION_UNSAFE');
      assert.equal(err.kind, 'migration-unsafe');
      assert.match(err.message, /first: 001\.sql:2: rename-column/);
      assert.deepEqual(
        err.findings.map((f) => f.rule),
        ['rename-column'],
      );
      return true;
    });
  });

  test('lets warnings and annotated statements through and returns them for the release record', async () => {
    const d = path.join(dir, 'pass');
    mkdirSync(d);
    writeFileSync(
      path.join(d, '001.sql'),
      'CREATE INDEX users_bio ON users (bio);\n-- cutover:allow drop-column nothing has read it since 1.4\nALTER TABLE users DROP COLUMN fax;\n',
    );
    const r = await lintBeforeExpand('*.sql', d);
    assert.deepEqual(
      r.findings.map((f) => `${f.severity}:${f.rule}`),
      ['warning:create-index-without-concurrently'],
    );
    assert.deepEqual(
      r.allowed.map((a) => `${a.rule}: ${a.reason}`),
      ['drop-column: nothing has read it since 1.4'],
    );
  });
});
