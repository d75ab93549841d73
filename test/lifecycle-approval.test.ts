// Manual approval, and a new release while the previous one still keeps its old slot on standby.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanup, cli, deploy, listening, served, startUp, waitPhase, writeSetup } from './lifecycle-helpers.ts';

test('with approval: manual a verified release waits for `cutover promote`, and a new release first retires the standby slot it reuses', async () => {
  const s = await writeSetup({ approval: 'manual' });
  const d = await startUp(s);
  try {
    const promote = async (id: string) => {
      await waitPhase(d, id, ['awaiting-approval']);
      const r = cli(s, ['promote', 'web']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    };
    const v1 = await deploy(d, 'v1');
    await promote(v1.id);
    await waitPhase(d, v1.id, ['retired']);

    const v2 = await deploy(d, 'v2');
    await waitPhase(d, v2.id, ['awaiting-approval']);
    assert.equal((await served(s.port)).version, 'v1', 'nothing moves before approval');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await d.api('GET', `/api/v1/services/web/releases/${v2.id}`)).json.phase, 'awaiting-approval');
    await promote(v2.id);
    await waitPhase(d, v2.id, ['promoted']);
    assert.equal((await served(s.port)).version, 'v2');

    const standby = (await d.api('GET', '/api/v1/services/web')).json.slots.blue.targets.map((t: any) => t.address);
    assert.equal(standby.length, 2);
    const v4 = await deploy(d, 'v4');
    assert.equal(v4.slot, 'blue');
    const v2now = (await d.api('GET', `/api/v1/services/web/releases/${v2.id}`)).json;
    assert.equal(v2now.phase, 'retired');
    assert.match(v2now.reason, /standby slot is reused/);
    for (const a of standby) assert.equal(await listening(a), false, `v1 standby replica ${a} was stopped`);
    await promote(v4.id);
    await waitPhase(d, v4.id, ['promoted']);
    assert.deepEqual(await served(s.port).then((x) => [x.version, x.slot]), ['v4', 'blue']);

    const nothing = cli(s, ['promote', 'web']);
    assert.equal(nothing.code, 3, 'the API refuses: exit 3');
    assert.match(nothing.stderr, /not awaiting-approval/);
  } finally {
    await d.stop();
    cleanup(s);
  }
});
