// A daemon SIGKILLed in the middle of a progressive shift: when it starts again, both slots run again
// and the release continues from the step it was in, with a fresh analysis run, to promoted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from './helpers.ts';
import { cleanup, deploy, served, startUp, waitPhase } from './lifecycle-helpers.ts';
import { releaseSetup } from './release-helpers.ts';

test('after a SIGKILL mid-shift, the restarted daemon resumes the step it was in and the release goes on to promoted', async () => {
  const s = await releaseSetup({ shift: { steps: [50, 100], hold: '3s' } });
  let d = await startUp(s);
  try {
    await waitPhase(d, (await deploy(d, 'v1')).id, ['promoted', 'retired']);
    const rel = await deploy(d, 'v2');
    await waitFor('the 50% step', async () => (await d.api('GET', '/api/v1/services/web')).json.weights.green === 50);
    await d.stop('SIGKILL');

    d = await startUp(s);
    const done = await waitPhase(d, rel.id, ['promoted'], 40_000);
    const steps = done.analysis.filter((a: any) => a.label === 'step 50%');
    assert.ok(steps.length >= 1, 'the step was analysed after the restart');
    const fifty = done.events.filter((e: any) => e.type === 'switch' && e.data?.weights?.green === 50);
    assert.equal(fifty.length, 1, 'the shift went on from its step, not from 0%');
    const st = (await d.api('GET', '/api/v1/services/web')).json;
    assert.equal(st.live, 'green');
    assert.deepEqual(st.weights, { blue: 0, green: 100 });
    assert.equal((await served(s.port)).version, 'v2');
  } finally {
    await d.stop();
    cleanup(s);
  }
});
