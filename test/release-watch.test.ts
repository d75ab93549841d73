// The standby watch (analysis.watchStandby, on by default): a version that starts failing after its
// observation window, once promoted, is rolled back to the standby slot by analysis, recorded so.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanup, cli, deploy, served, startUp, steadyLoad, waitPhase } from './lifecycle-helpers.ts';
import { releaseSetup, settled } from './release-helpers.ts';

test('a version that starts failing after its observation window is rolled back from promoted to the standby slot by the watch', async () => {
  const s = await releaseSetup({
    analysis: { interval: '250ms', window: '1s', minSamples: 10, failureLimit: 2, inconclusive: 'pass', watchInterval: '250ms' },
  });
  const d = await startUp(s);
  try {
    const v1 = await deploy(d, 'v1');
    await waitPhase(d, v1.id, ['promoted', 'retired']);
    const load = steadyLoad(s.port, 4);
    try {
      const late = await deploy(d, 'fail3s');
      // Healthy for 3 s of traffic: the 1 s window passes and the release is promoted first.
      await waitPhase(d, late.id, ['promoted', 'rolled-back']);
      const end = await settled(d, late.id, ['rolled-back', 'retired']);
      assert.equal(end.phase, 'rolled-back', end.reason);
      assert.match(end.reason, /^analysis failed: standby watch failed .*error_rate/);
      const phases = end.events.filter((e: any) => e.type === 'phase').map((e: any) => e.phase);
      assert.deepEqual(phases.slice(-2), ['promoted', 'rolled-back'], 'rolled back from promoted, after the window passed');
    } finally {
      await load.stop();
    }
    for (let i = 0; i < 10; i++) assert.equal((await served(s.port)).version, 'v1', 'users are back on the standby slot');
    assert.match(cli(s, ['history', 'web']).stdout, /fail3s .*rolled-back +analysis failed: standby watch failed/);
  } finally {
    await d.stop();
    cleanup(s);
  }
});
