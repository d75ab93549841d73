// The controller killed at the one moment chaos seed 1420080023 found: a failed release (which had
// reused the standby's slot) is recorded failed and its clean-up has not begun. The kill is aimed
// with the test hook CUTOVER_TEST_KILL_AT=ended:recorded (src/controller/kill-points.ts), so it hits
// that boundary every run. After the restart the clean-up is finished from the store's record: the
// slot no longer names the failed version, nothing of it runs, the displaced standby is back, and
// `cutover rollback` is instant.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from './helpers.ts';
import { cleanup, cli, deploy, replicasOf, served, startUp, waitPhase, writeSetup } from './lifecycle-helpers.ts';

test('a controller SIGKILLed right after a failed release is recorded, before its clean-up, restarts with the slot cleaned and the displaced standby back', async () => {
  const s = await writeSetup({ standby: '10m' });
  const tag = Math.random().toString(36).slice(2, 7);
  const [one, two, bad] = [`k1-${tag}`, `k2-${tag}`, `k3-${tag}-broken`];
  let d = await startUp(s, undefined, { CUTOVER_TEST_KILL_AT: 'ended:recorded' });
  try {
    await waitPhase(d, (await deploy(d, one)).id, ['retired', 'promoted']);
    await waitPhase(d, (await deploy(d, two)).id, ['promoted'], 45_000);
    const st0 = (await d.api('GET', '/api/v1/services/web')).json;
    assert.equal(st0.slots.blue.version, one, `${one} stands by in blue`);

    // The broken version reuses blue and fails while provisioning; the controller dies at the record.
    const rel = await deploy(d, bad);
    assert.equal(rel.slot, 'blue');
    assert.equal(await d.exited(60_000), 'SIGKILL', 'the controller died at the kill point');
    d = await startUp(s);

    const st = await waitFor(
      `blue to hold ${one} again, healthy`,
      async () => {
        const x = (await d.api('GET', '/api/v1/services/web')).json;
        return x.slots.blue.version === one && x.slots.blue.targets.length > 0 && x.slots.blue.targets.every((t: any) => t.healthy)
          ? x
          : undefined;
      },
      30_000,
    );
    assert.notEqual(st.slots.blue.version, bad, 'status does not name the failed version');
    const r = (await d.api('GET', `/api/v1/services/web/releases/${rel.id}`)).json;
    assert.equal(r.phase, 'failed');
    assert.ok(
      r.events.some((e: any) => new RegExp(`version ${one}, which it displaced, is provisioned again in blue`).test(e.reason)),
      'the events say the standby came back',
    );
    assert.equal(replicasOf(bad), 0, 'nothing of the failed version runs');
    assert.equal(replicasOf(one), 2, `${one} runs again, two replicas`);
    assert.equal((await served(s.port)).version, two, 'live never moved');

    const back = cli(s, ['rollback', 'web']);
    assert.equal(back.code, 0, back.stdout + back.stderr);
    assert.match(back.stdout, new RegExp(`rolled back to version ${one}, which stood by in blue`));
    assert.equal((await served(s.port)).version, one);
  } finally {
    await d.stop();
    cleanup(s);
  }
});
