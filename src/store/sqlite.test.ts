import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, test } from 'node:test';
import { CutoverError } from '../errors.ts';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.ts';
import { DB_FILE, PID_FILE, SqliteStore } from './sqlite.ts';

const by = { actor: 'controller', reason: 'test' };
const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function stateDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'cutover-sqlite-'));
  roots.push(root);
  return join(root, '.cutover');
}

/** A child Node process running `body` (an ES module) with the store module as `SqliteStore`. */
function child(dir: string, body: string): ChildProcess {
  const storeUrl = new URL('./sqlite.ts', import.meta.url).href;
  const code = `import { SqliteStore } from ${JSON.stringify(storeUrl)};\nconst dir = process.env.STATE_DIR;\n${body}`;
  return spawn(process.execPath, ['--no-warnings', '--input-type=module', '--eval', code], {
    env: { ...process.env, STATE_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Resolves when the child prints `line`; rejects if it exits first (with what it wrote to stderr). */
function waitFor(proc: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').includes(line)) resolve();
    });
    proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    proc.on('exit', (code) => reject(new Error(`child exited ${code} before "${line}": ${err}`)));
  });
}

function exited(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else proc.on('exit', () => resolve());
  });
}

test('releases, events, route state and tokens survive closing and opening the store again', async () => {
  const dir = stateDir();
  const a = SqliteStore.open(dir);
  const r = await a.createRelease({ service: 'web', version: '2.0.0', slot: 'green', fromSlot: 'blue' }, by);
  await a.transition(r.id, 'provisioning', { ...by, releaseData: { step: 1 } });
  await a.putRouteState(
    {
      service: 'web',
      live: 'blue',
      weights: { blue: 100, green: 0 },
      generation: 7,
      slots: { blue: { version: '1', targets: ['127.0.0.1:1'] }, green: { version: null, targets: [] } },
    },
    { expectGeneration: 0 },
  );
  const token = await a.createToken({ name: 'ci', role: 'deployer', hash: 'abc' });
  const events = await a.events();
  await a.close();

  const b = SqliteStore.open(dir);
  try {
    assert.deepEqual(await b.activeRelease('web'), {
      ...r,
      phase: 'provisioning',
      updatedAt: (await b.getRelease(r.id))!.updatedAt,
      data: { step: 1 },
    });
    assert.deepEqual(await b.events(), events);
    assert.equal((await b.getRouteState('web'))?.generation, 7);
    assert.deepEqual(await b.findTokenByHash('abc'), token);
    // Sequence numbers carry on from where they were.
    const next = await b.appendEvent({ service: 'web', type: 'audit', actor: 'cli', reason: 'after reopen' });
    assert.ok(next.seq > events.at(-1)!.seq);
  } finally {
    await b.close();
  }
});

test('the store runs in WAL mode with synchronous FULL at the newest schema version', async () => {
  const store = SqliteStore.open(stateDir());
  try {
    assert.deepEqual(
      { ...store.info(), file: undefined },
      { file: undefined, schemaVersion: SCHEMA_VERSION, journalMode: 'wal', synchronous: 2 },
    );
  } finally {
    await store.close();
  }
});

test('the state directory and the database are readable by their owner only', async () => {
  const dir = stateDir();
  const store = SqliteStore.open(dir);
  await store.close();
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, DB_FILE)).mode & 0o777, 0o600);
});

test('a transition is on disk when transition() returns, even if the process is killed at once', async () => {
  const dir = stateDir();
  const setup = SqliteStore.open(dir);
  const r = await setup.createRelease({ service: 'web', version: '2.0.0', slot: 'green', fromSlot: 'blue' }, by);
  await setup.close();

  const proc = child(
    dir,
    `const store = SqliteStore.open(dir);
     const r = await store.activeRelease('web');
     await store.transition(r.id, 'provisioning', { actor: 'controller', reason: 'starting targets' });
     process.stdout.write('done\\n');
     setInterval(() => {}, 1000);`,
  );
  await waitFor(proc, 'done');
  proc.kill('SIGKILL');
  await exited(proc);
  assert.equal(proc.signalCode, 'SIGKILL');
  // The commit lives in the write-ahead log only: nobody checkpointed it into the database.
  assert.ok(existsSync(join(dir, `${DB_FILE}-wal`)));

  const store = SqliteStore.open(dir);
  try {
    const release = await store.getRelease(r.id);
    assert.equal(release?.phase, 'provisioning');
    const last = (await store.events({ releaseId: r.id })).at(-1);
    assert.equal(last?.phase, 'provisioning');
    assert.equal(last?.reason, 'starting targets');
  } finally {
    await store.close();
  }
});

test('a second owner of a state directory is refused with the pid that holds it', async () => {
  const dir = stateDir();
  const proc = child(dir, `SqliteStore.open(dir); process.stdout.write('ready\\n'); setInterval(() => {}, 1000);`);
  try {
    await waitFor(proc, 'ready');
    assert.throws(
      () => SqliteStore.open(dir, { lockTimeout: 50 }),
      (err: unknown) =>
        err instanceof CutoverError &&
        err.code === 'CUTOVER_E_CONFLICT' &&
        err.message.includes(`pid ${proc.pid}`) &&
        err.message.includes('another stateDir'),
    );
  } finally {
    proc.kill('SIGKILL');
    await exited(proc);
  }
  // The holder died without cleaning up; its stale pid file does not stand in the way.
  assert.equal(readFileSync(join(dir, PID_FILE), 'utf8').trim(), String(proc.pid));
  const store = SqliteStore.open(dir);
  assert.equal(readFileSync(join(dir, PID_FILE), 'utf8').trim(), String(process.pid));
  await store.close();
  assert.equal(existsSync(join(dir, PID_FILE)), false);
});

test('the same process cannot open a state directory twice', async () => {
  const dir = stateDir();
  const first = SqliteStore.open(dir);
  try {
    assert.throws(() => SqliteStore.open(dir, { lockTimeout: 0 }), {
      code: 'CUTOVER_E_CONFLICT',
      message: new RegExp(`pid ${process.pid}`),
    });
    // The refused attempt did not disturb the owner.
    await first.createRelease({ service: 'web', version: '1', slot: 'blue', fromSlot: null }, by);
  } finally {
    await first.close();
  }
  const again = SqliteStore.open(dir);
  assert.equal((await again.activeRelease('web'))?.version, '1');
  await again.close();
});

test('a database at schema version 1 is migrated to the newest and keeps its releases', async () => {
  const dir = stateDir();
  mkdirSync(dir, { recursive: true });
  const old = new DatabaseSync(join(dir, DB_FILE));
  old.exec(MIGRATIONS[0]!.sql);
  old.exec('PRAGMA user_version = 1');
  old.exec(
    `INSERT INTO releases VALUES ('rel_old', 'web', '1.0.0', 'blue', NULL, 'verifying', '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00.000Z', NULL, NULL);
     INSERT INTO events (time, service, release_id, type, phase, actor, reason, data)
       VALUES ('2024-01-01T00:00:00.000Z', 'web', 'rel_old', 'phase', 'pending', 'cli', 'deploy', '{}');`,
  );
  old.close();

  const store = SqliteStore.open(dir);
  try {
    assert.equal(store.info().schemaVersion, SCHEMA_VERSION);
    const release = await store.activeRelease('web');
    assert.equal(release?.id, 'rel_old');
    assert.equal((await store.events({ releaseId: 'rel_old' }))[0]?.reason, 'deploy');
    // The old release continues, and what version 2 added works.
    await store.transition('rel_old', 'shifting', by);
    await store.createToken({ name: 'ci', role: 'admin', hash: 'h' });
    await store.putRouteState(
      {
        service: 'web',
        live: 'blue',
        weights: { blue: 100, green: 0 },
        generation: 1,
        slots: { blue: { version: '1.0.0', targets: [] }, green: { version: null, targets: [] } },
      },
      { expectGeneration: 0 },
    );
  } finally {
    await store.close();
  }

  // Version 2 makes the database itself refuse a second active release of a service.
  const raw = new DatabaseSync(join(dir, DB_FILE));
  try {
    assert.throws(
      () =>
        raw.exec(
          `INSERT INTO releases VALUES ('rel_two', 'web', '2.0.0', 'green', 'blue', 'pending', '2024-01-02T00:00:00.000Z', '2024-01-02T00:00:00.000Z', NULL, NULL)`,
        ),
      /UNIQUE constraint failed/,
    );
  } finally {
    raw.close();
  }
});

test('a database written by a newer cutover is refused rather than misread', async () => {
  const dir = stateDir();
  mkdirSync(dir, { recursive: true });
  const newer = new DatabaseSync(join(dir, DB_FILE));
  newer.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
  newer.close();
  assert.throws(() => SqliteStore.open(dir), { code: 'CUTOVER_E_INTERNAL', message: /newer than this cutover knows/ });
  // The refusal let go of the directory.
  assert.throws(() => SqliteStore.open(dir), { code: 'CUTOVER_E_INTERNAL' });
});

test('several services switch in one transaction: a stale generation on any one writes none of them', async () => {
  const store = SqliteStore.open(stateDir());
  const route = (service: string, generation: number, live: 'blue' | 'green') => ({
    service,
    live,
    weights: live === 'blue' ? { blue: 100, green: 0 } : { blue: 0, green: 100 },
    generation,
    slots: { blue: { version: 'v1', targets: [] }, green: { version: 'v2', targets: [] } },
  });
  try {
    for (const s of ['web', 'api']) await store.putRouteState(route(s, 1, 'blue'), { expectGeneration: 0 });
    const event = (service: string) => ({ service, releaseId: null, type: 'switch' as const, actor: 'controller', reason: 'together' });
    await assert.rejects(
      store.putRouteStates([
        { state: route('web', 2, 'green'), options: { expectGeneration: 1, event: event('web') } },
        { state: route('api', 7, 'green'), options: { expectGeneration: 5, event: event('api') } },
      ]),
      (err: CutoverError) => err.code === 'CUTOVER_E_CONFLICT',
    );
    assert.equal((await store.getRouteState('web'))?.live, 'blue', 'web is not switched alone');
    assert.equal((await store.events({ service: 'web' })).filter((e) => e.reason === 'together').length, 0);
    await store.putRouteStates([
      { state: route('web', 2, 'green'), options: { expectGeneration: 1, event: event('web') } },
      { state: route('api', 2, 'green'), options: { expectGeneration: 1, event: event('api') } },
    ]);
    assert.deepEqual(
      (await store.listRouteStates()).map((s) => [s.service, s.live, s.generation]),
      [
        ['api', 'green', 2],
        ['web', 'green', 2],
      ],
    );
  } finally {
    await store.close();
  }
});

test('replica records survive a reopen, are replaced by id, listed per service in slot and index order, and removed', async () => {
  const dir = stateDir();
  const a = SqliteStore.open(dir);
  const book = a.replicas();
  const rec = (id: string, service: string, slot: 'blue' | 'green', index: number) => ({
    id,
    service,
    slot,
    version: 'v1',
    index,
    address: `127.0.0.1:${4000 + index}`,
    pid: null,
    startTime: null,
  });
  // Recorded before they start: no pid yet.
  await book.put([rec('g1', 'web', 'green', 1), rec('b0', 'web', 'blue', 0), rec('g0', 'web', 'green', 0), rec('x0', 'api', 'blue', 0)]);
  // Then with the pid and start time of the process that runs.
  await book.put([{ ...rec('b0', 'web', 'blue', 0), pid: 1234, startTime: '98765' }]);
  await a.close();
  const b = SqliteStore.open(dir);
  const listed = await b.replicas().list('web');
  assert.deepEqual(
    listed.map((r) => r.id),
    ['b0', 'g0', 'g1'],
  );
  assert.deepEqual(listed[0], { ...rec('b0', 'web', 'blue', 0), pid: 1234, startTime: '98765' });
  await b.replicas().remove(['g0', 'g1', 'nothing']);
  assert.deepEqual(
    (await b.replicas().list('web')).map((r) => r.id),
    ['b0'],
  );
  assert.equal((await b.replicas().list('api')).length, 1);
  await b.close();
});
