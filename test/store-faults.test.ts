// The SQLite store on a stateDir that fills up or is read-only (a 1 MB tmpfs mounted here): the
// write-ahead log stays small, writes are refused with an error naming the stateDir and the cause,
// reads go on, and writes work again by themselves once the disk lets them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SqliteStore } from '../src/store/sqlite.ts';
import type { Phase } from '../src/store/types.ts';
import { waitFor } from './helpers.ts';
import { mountTmpfs, NO_TMPFS, type Tmpfs } from './tmpfs.ts';

const by = { actor: 'controller', reason: 'test' };
const PHASES: Phase[] = ['provisioning', 'verifying', 'shifting', 'observing', 'promoted', 'retired'];

const disks: Tmpfs[] = [];
after(() => {
  for (const d of disks) d.unmount();
});
function disk(): Tmpfs {
  const d = mountTmpfs('1m');
  disks.push(d);
  return d;
}

function walSize(dir: string): number {
  const wal = join(dir, 'cutover.db-wal');
  return existsSync(wal) ? statSync(wal).size : 0;
}

function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.tmp'));
}

async function refused(p: Promise<unknown>, dir: string, fault: string): Promise<void> {
  await assert.rejects(p, (err: Error & { code?: string; status?: number }) => {
    assert.equal(err.code, 'CUTOVER_E_STORE_UNWRITABLE', err.message);
    assert.equal(err.status, 503);
    assert.ok(err.message.includes(dir), `names the stateDir: ${err.message}`);
    assert.ok(err.message.includes(fault), `names ${fault}: ${err.message}`);
    return true;
  });
}

/** One release with its phases, gate events and route changes, as a run of the controller writes them. */
async function oneRelease(store: SqliteStore, n: number, onWrite: () => void): Promise<void> {
  const r = await store.createRelease({ service: 'web', version: `v${n}`, slot: n % 2 ? 'green' : 'blue', fromSlot: null }, by);
  onWrite();
  let generation = (await store.getRouteState('web'))?.generation ?? 0;
  for (const phase of PHASES) {
    await store.transition(r.id, phase, { ...by, reason: `to ${phase}` });
    onWrite();
    for (let i = 0; i < 6; i++) {
      await store.appendEvent({ service: 'web', releaseId: r.id, type: 'gate', actor: 'controller', reason: 'x'.repeat(300), data: { i } });
      onWrite();
    }
    const state = {
      service: 'web',
      live: 'blue' as const,
      weights: { blue: 100, green: 0 },
      generation: generation + 1,
      slots: { blue: { version: `v${n}`, targets: ['127.0.0.1:1'] }, green: { version: null, targets: [] } },
    };
    await store.putRouteState(state, { expectGeneration: generation });
    generation++;
    onWrite();
  }
}

describe(`the SQLite store on a 1 MB stateDir${NO_TMPFS ? ` (skipped: ${NO_TMPFS})` : ''}`, { skip: NO_TMPFS ?? false }, () => {
  test('ten releases with their events fit on a 1 MB stateDir: the write-ahead log stays under 128 KiB', async () => {
    const dir = join(disk().dir, 'state');
    const store = SqliteStore.open(dir);
    let largest = 0;
    try {
      for (let n = 1; n <= 10; n++) await oneRelease(store, n, () => (largest = Math.max(largest, walSize(dir))));
    } finally {
      await store.close();
    }
    assert.ok(largest <= 128 * 1024, `the WAL reached ${largest} bytes`);
  });

  test('a full stateDir refuses writes naming it and ENOSPC, still reads, and writes again once space returns', async () => {
    const d = disk();
    const dir = join(d.dir, 'state');
    const store = SqliteStore.open(dir);
    try {
      const r = await store.createRelease({ service: 'web', version: 'v1', slot: 'blue', fromSlot: null }, by);
      d.fill();
      // A large event cannot fit in whatever pages are left.
      const big = { service: 'web', releaseId: r.id, type: 'gate' as const, actor: 'controller', reason: 'x'.repeat(200_000) };
      await refused(store.appendEvent(big), dir, 'ENOSPC');
      await refused(store.transition(r.id, 'provisioning', { ...by, releaseData: { blob: big.reason } }), dir, 'ENOSPC');
      assert.equal(store.fault()?.fault, 'ENOSPC');
      assert.equal((await store.getRelease(r.id))?.phase, 'pending', 'reads go on, and the refused transition changed nothing');
      d.free();
      await store.transition(r.id, 'provisioning', { ...by, releaseData: { blob: big.reason } });
      await store.appendEvent(big);
      assert.equal(store.fault(), null);
      assert.equal((await store.getRelease(r.id))?.phase, 'provisioning');
      assert.deepEqual(leftovers(dir), []);
    } finally {
      await store.close();
    }
  });

  test('a store opened on a full stateDir reads it, leaves no pid temp file, and takes writes once space returns', async () => {
    const d = disk();
    const dir = join(d.dir, 'state');
    const first = SqliteStore.open(dir);
    const r = await first.createRelease({ service: 'web', version: 'v1', slot: 'blue', fromSlot: null }, by);
    await first.close();
    d.fill();
    const store = SqliteStore.open(dir);
    try {
      assert.equal((await store.getRelease(r.id))?.phase, 'pending');
      assert.equal(store.fault()?.fault, 'ENOSPC');
      assert.deepEqual(leftovers(dir), [], 'no cutover.pid.<pid>.tmp left behind');
      await refused(store.transition(r.id, 'provisioning', { ...by, releaseData: { blob: 'x'.repeat(200_000) } }), dir, 'ENOSPC');
      d.free();
      // Nothing has to write for it to notice: the pid file comes back by itself.
      await waitFor('the pid file', () => existsSync(join(dir, 'cutover.pid')), 10_000);
      await store.transition(r.id, 'provisioning', by);
      assert.equal(store.fault(), null);
    } finally {
      await store.close();
    }
  });

  test('a read-only stateDir opens with the last state a killed daemon left in its log, refuses writes with EROFS, and recovers once read-write', async () => {
    const d = disk();
    const dir = join(d.dir, 'state');
    // A daemon SIGKILLed after its last commit: that commit is only in the WAL (phases checkpoint it, events do not).
    const storeUrl = new URL('../src/store/sqlite.ts', import.meta.url).href;
    const code = `import { SqliteStore } from ${JSON.stringify(storeUrl)};
      const s = SqliteStore.open(process.env.DIR);
      const r = await s.createRelease({ service: 'web', version: 'v1', slot: 'blue', fromSlot: null }, { actor: 'a', reason: 'b' });
      await s.transition(r.id, 'provisioning', { actor: 'a', reason: 'b' });
      await s.appendEvent({ service: 'web', releaseId: r.id, type: 'gate', actor: 'a', reason: 'last words' });
      process.stdout.write(r.id + '\\n');
      process.kill(process.pid, 'SIGKILL');`;
    const child = spawn(process.execPath, ['--no-warnings', '--input-type=module', '--eval', code], {
      env: { ...process.env, DIR: dir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let id = '';
    child.stdout.on('data', (b: Buffer) => (id += b.toString()));
    await new Promise((resolve) => child.on('exit', resolve));
    id = id.trim();
    assert.ok(walSize(dir) > 0, 'the killed store left its WAL');
    d.readOnly();
    const store = SqliteStore.open(dir);
    try {
      assert.equal((await store.getRelease(id))?.phase, 'provisioning');
      assert.equal((await store.events({ releaseId: id })).at(-1)?.reason, 'last words', 'the commit only in the WAL is read');
      assert.equal(store.fault()?.fault, 'EROFS');
      assert.equal(store.fault()?.snapshot, true);
      await refused(store.transition(id, 'verifying', by), dir, 'EROFS');
      d.readWrite();
      await store.transition(id, 'verifying', by);
      assert.equal(store.fault(), null);
    } finally {
      await store.close();
    }
    const again = SqliteStore.open(dir);
    try {
      assert.equal((await again.getRelease(id))?.phase, 'verifying', 'the write went to the stateDir, not to a copy');
    } finally {
      await again.close();
    }
  });
});
