// The mirror gate: live requests are copied to the idle slot and the answers dropped; the idle slot's
// error rate against the live slot's decides. Users only ever get the live answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanup, deploy, served, startUp, steadyLoad, waitPhase } from './lifecycle-helpers.ts';
import { releaseSetup, settled } from './release-helpers.ts';

test('the mirror gate fails a version whose mirrored answers are errors, without a user seeing one, and passes a healthy version', async () => {
  const s = await releaseSetup({ gates: [{ mirror: { share: 1, duration: '1s', maxErrorRateDelta: 0.05 } }] });
  const d = await startUp(s);
  try {
    const v1 = await waitPhase(d, (await deploy(d, 'v1')).id, ['promoted', 'retired']);
    assert.match(v1.gates[0].summary, /skipped/, 'a first release has no live requests to copy');

    const load = steadyLoad(s.port, 4);
    try {
      const bad = await settled(d, (await deploy(d, 'bad500')).id);
      assert.equal(bad.phase, 'failed');
      assert.match(
        bad.reason,
        /gate 1 of 1 \(mirror: 100% of live requests for 1 s\) failed: error rate 100% on green over \d+ mirrored requests/,
      );
      const st = (await d.api('GET', '/api/v1/services/web')).json;
      assert.equal(st.live, 'blue');

      const v2 = await waitPhase(d, (await deploy(d, 'v2')).id, ['promoted']);
      const { failures, versions } = await load.stop();
      assert.equal(v2.gates[0].outcome, 'passed', v2.gates[0].summary);
      assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failed user requests`);
      assert.equal(versions.get('bad500') ?? 0, 0, 'mirrored answers never reach users');
      assert.equal((await served(s.port)).version, 'v2');
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  } finally {
    await d.stop();
    cleanup(s);
  }
});
