// `cutover up` on a stateDir that is full, then read-only (a 1 MB tmpfs mounted here): it does not
// exit; it brings the service up from the last state it can read, refuses a change with an error
// naming the stateDir and the cause, and takes the change once the disk can be written again.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { waitFor } from './helpers.ts';
import { cleanup, deploy, type Running, served, startUp, waitPhase, writeSetup } from './lifecycle-helpers.ts';
import { mountTmpfs, NO_TMPFS, type Tmpfs } from './tmpfs.ts';

const disks: Tmpfs[] = [];
after(() => {
  for (const d of disks) d.unmount();
});

async function refusedDeploy(d: Running, stateDir: string, fault: string): Promise<void> {
  const r = await d.api('POST', '/api/v1/services/web/releases', { version: 'v9' });
  assert.equal(r.status, 503, JSON.stringify(r.json));
  assert.equal(r.json.error.code, 'CUTOVER_E_STORE_UNWRITABLE');
  assert.ok(r.json.error.message.includes(stateDir) && r.json.error.message.includes(fault), r.json.error.message);
}

describe(`cutover up on a stateDir that cannot be written${NO_TMPFS ? ` (skipped: ${NO_TMPFS})` : ''}`, { skip: NO_TMPFS ?? false }, () => {
  test('a restart on a full, then a read-only stateDir serves the last live slot, refuses changes with the cause, and recovers by itself', async () => {
    const disk = mountTmpfs('1m');
    disks.push(disk);
    const s = await writeSetup();
    const stateDir = join(disk.dir, 'state');
    writeFileSync(s.file, stringify({ ...(parse(readFileSync(s.file, 'utf8')) as object), stateDir }));
    let d: Running | null = null;
    try {
      d = await startUp(s, 45_000);
      await waitPhase(d, (await deploy(d, 'v1')).id, ['retired']);
      await d.stop();

      disk.fill();
      d = await startUp(s, 45_000);
      await waitFor('v1 served again on a full disk', async () => ((await served(s.port)).version === 'v1' ? true : undefined), 30_000);
      await refusedDeploy(d, stateDir, 'ENOSPC');
      await d.stop();

      disk.free();
      disk.readOnly();
      d = await startUp(s, 45_000);
      await waitFor(
        'v1 served again on a read-only disk',
        async () => ((await served(s.port)).version === 'v1' ? true : undefined),
        30_000,
      );
      await refusedDeploy(d, stateDir, 'EROFS');
      // Read-write again: the same daemon takes the change, with no restart.
      disk.readWrite();
      const ok = await waitFor('a deploy taken', async () => {
        const r = await d!.api('POST', '/api/v1/services/web/releases', { version: 'v2' });
        return r.status === 202 ? r.json : undefined;
      });
      await waitPhase(d, ok.id, ['promoted', 'retired'], 60_000);
      assert.equal((await served(s.port)).version, 'v2');
    } finally {
      await d?.stop();
      cleanup(s);
    }
  });
});
