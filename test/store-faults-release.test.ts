// A release while its stateDir (a 1 MB tmpfs mounted here) fills up: users' requests never fail, the
// release holds with the reason in its status and goes on by itself once space returns, a change is
// refused with an error naming the stateDir and ENOSPC, and an abort works once it can be recorded.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { waitFor } from './helpers.ts';
import {
  cleanup,
  deploy,
  replicasOf,
  type Running,
  type Setup,
  served,
  startUp,
  steadyLoad,
  waitPhase,
  writeSetup,
} from './lifecycle-helpers.ts';
import { mountTmpfs, NO_TMPFS, type Tmpfs } from './tmpfs.ts';

const disks: Tmpfs[] = [];
after(() => {
  for (const d of disks) d.unmount();
});

/** writeSetup, with the stateDir on a fresh 1 MB tmpfs. */
async function onSmallDisk(service: Record<string, unknown>): Promise<{ s: Setup; disk: Tmpfs; stateDir: string }> {
  const s = await writeSetup(service);
  const disk = mountTmpfs('1m');
  disks.push(disk);
  const stateDir = join(disk.dir, 'state');
  const config = parse(readFileSync(s.file, 'utf8')) as Record<string, unknown>;
  writeFileSync(s.file, stringify({ ...config, stateDir }));
  return { s, disk, stateDir };
}

async function status(d: Running): Promise<any> {
  return (await d.api('GET', '/api/v1/services/web')).json;
}

describe(`a release on a stateDir that fills up${NO_TMPFS ? ` (skipped: ${NO_TMPFS})` : ''}`, { skip: NO_TMPFS ?? false }, () => {
  test('users never see a failure, the release holds with the reason and is promoted once space returns', async () => {
    const { s, disk, stateDir } = await onSmallDisk({ analysis: { interval: '250ms', window: '2s', inconclusive: 'pass' } });
    const d = await startUp(s);
    try {
      await waitPhase(d, (await deploy(d, 'v1')).id, ['retired']);
      const load = steadyLoad(s.port, 4);
      try {
        const rel = await deploy(d, 'v2');
        await waitPhase(d, rel.id, ['observing']);
        disk.fill();
        const held = await waitFor('the release to hold for the store', async () => {
          const st = await status(d);
          return st.release?.waiting ? st : undefined;
        });
        assert.equal(held.release.phase, 'observing');
        assert.match(held.release.waiting.reason, /ENOSPC/);
        assert.ok(held.release.waiting.reason.includes(stateDir), held.release.waiting.reason);
        // A change is refused with the coded error, not CUTOVER_E_INTERNAL.
        const refused = await d.api('POST', '/api/v1/tokens', { name: 'ci', role: 'viewer' });
        assert.equal(refused.status, 503, JSON.stringify(refused.json));
        assert.equal(refused.json.error.code, 'CUTOVER_E_STORE_UNWRITABLE');
        assert.ok(refused.json.error.message.includes(stateDir), refused.json.error.message);
        // Held, not ended: well past its 2 s window it is still observing.
        await new Promise((r) => setTimeout(r, 3000));
        assert.equal((await status(d)).release.phase, 'observing');
        disk.free();
        await waitPhase(d, rel.id, ['promoted'], 30_000);
        assert.equal((await status(d)).release.waiting, null);
        const { failures, versions } = await load.stop();
        assert.deepEqual(failures, [], 'no user request failed');
        assert.ok((versions.get('v2') ?? 0) > 0, 'users reached v2');
        assert.deepEqual(
          readdirSync(stateDir).filter((f) => f.endsWith('.tmp')),
          [],
        );
      } finally {
        // A failed assertion must stop the load too, or its clients would run on until their deadline.
        await load.stop();
      }
    } finally {
      await d.stop();
      cleanup(s);
    }
  });

  test('an abort while the runner waits for a full stateDir is refused with the cause, then works once space returns', async () => {
    const { s, disk, stateDir } = await onSmallDisk({
      approval: 'manual',
      gates: [{ command: { run: 'sleep 1; echo gate done', timeout: '30s' } }],
    });
    const d = await startUp(s);
    try {
      const first = await deploy(d, 'v1');
      await waitPhase(d, first.id, ['awaiting-approval']);
      assert.equal((await d.api('POST', '/api/v1/services/web/promote', {})).status, 200);
      await waitPhase(d, first.id, ['retired']);
      const version = `v2-${Math.random().toString(36).slice(2, 8)}`;
      const rel = await deploy(d, version);
      await waitPhase(d, rel.id, ['verifying']);
      disk.fill();
      await waitFor('the release to hold for the store', async () => ((await status(d)).release?.waiting ? true : undefined));
      const refused = await d.api('POST', '/api/v1/services/web/abort', { reason: 'disk full' });
      assert.equal(refused.status, 503, JSON.stringify(refused.json));
      assert.equal(refused.json.error.code, 'CUTOVER_E_STORE_UNWRITABLE');
      assert.ok(refused.json.error.message.includes(stateDir));
      disk.free();
      const aborted = await d.api('POST', '/api/v1/services/web/abort', { reason: 'stopped by the test' });
      assert.equal(aborted.status, 200, JSON.stringify(aborted.json));
      await waitPhase(d, rel.id, ['aborted']);
      await waitFor(`the replicas of ${version} to stop`, () => (replicasOf(version) === 0 ? true : undefined), 15_000);
      assert.equal((await served(s.port)).version, 'v1', 'the live slot never moved');
    } finally {
      await d.stop();
      cleanup(s);
    }
  });
});
