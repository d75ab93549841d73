// A SIGHUP that comes while a restarted controller is still starting (a second `systemctl reload`
// right after a first) is kept and honoured once the controller is up, instead of ending the process
// (SIGHUP's default action). The window is held open with the test hook CUTOVER_TEST_HOLD_AT
// (src/cli/hold-points.ts), so the signal lands in it on every run rather than by timing.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startUpstream, waitFor } from './helpers.ts';
import { cleanup, startUp } from './lifecycle-helpers.ts';
import { keepAliveLoad, processes, serving, writeStatic } from './supervisor-helpers.ts';

const ATTACHED = '"msg":"attached to the supervisor"';
const HELD = '"msg":"held at a test hold point until its file is removed"';
const KEPT = '"msg":"SIGHUP while starting: kept, the restart follows once up"';
const RESTARTING = '"msg":"restarting in place: handing the routers over to the next controller"';
const count = (text: string, what: string): number => text.split(what).length - 1;

test('a SIGHUP while the restarted controller is still starting is kept: once up it restarts again, same pid and routers, 0 failed', async () => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  const s = await writeStatic(blue.address, green.address);
  const hold = join(s.dir, 'hold');
  // The first start does not hold (no file yet); the restarted one does, until the file is removed.
  const d = await startUp(s, undefined, { CUTOVER_TEST_HOLD_AT: 'up:starting', CUTOVER_TEST_HOLD_FILE: hold });
  try {
    await serving(s.port);
    const before = await processes(d);
    const pid = d.child.pid;
    const load = keepAliveLoad(s.port, 10);
    try {
      writeFileSync(hold, '');
      d.child.kill('SIGHUP');
      await waitFor('the restarted controller to be held while starting', () => count(d.output(), HELD) === 1 || undefined, 30_000);
      d.child.kill('SIGHUP');
      await waitFor('the second SIGHUP to be kept', () => d.output().includes(KEPT) || undefined, 10_000);
      rmSync(hold);

      // It comes up, then restarts once more for the SIGHUP it kept, and comes up again.
      await waitFor('the kept restart to attach', () => count(d.output(), ATTACHED) === 3 || undefined, 60_000);
      await waitFor('the API again', async () => (await d.api('GET', '/api/v1/services/web')).status === 200 || undefined, 30_000);
      assert.equal(d.child.exitCode, null, 'the SIGHUP did not end the process');
      assert.equal(d.child.signalCode, null);
      assert.equal(d.child.pid, pid, 'the pid systemd knows stays');
      assert.equal(count(d.output(), RESTARTING), 2, 'one restart per SIGHUP');
      const after = await processes(d);
      assert.equal(after.supervisor, before.supervisor);
      assert.deepEqual(after.routers, before.routers, 'the same router processes served throughout');
      assert.equal(after.controllers, 1);

      const res = await load.stop();
      assert.deepEqual(res.failures, [], `failed requests across both restarts (${res.ok} ok)`);
      process.stdout.write(
        `# SIGHUP, and a SIGHUP while the restarted controller starts: ${res.ok} ok, 0 failed, longest gap ${res.maxGapMs} ms\n`,
      );
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  } finally {
    rmSync(hold, { force: true });
    await d.stop();
    cleanup(s);
    await blue.close();
    await green.close();
  }
});
