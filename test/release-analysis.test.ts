// Analysis while observing, with real processes: a version that starts failing after traffic moved
// is rolled back by itself, and a run with too little traffic to judge holds for the operator.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from './helpers.ts';
import { cleanup, cli, deploy, served, startUp, steadyLoad, waitPhase } from './lifecycle-helpers.ts';
import { release, releaseSetup, settled } from './release-helpers.ts';

test('observing holds for `cutover promote` when there is too little traffic to judge, and rolls back by itself a version that starts failing', async () => {
  const s = await releaseSetup({ analysis: { interval: '250ms', window: '3s', minSamples: 10, failureLimit: 2, inconclusive: 'hold' } });
  const d = await startUp(s);
  try {
    // A first release has nothing to roll back to: promoted once its gates pass, without analysis.
    const v1 = await deploy(d, 'v1');
    const first = await waitPhase(d, v1.id, ['promoted', 'retired']);
    assert.deepEqual(first.analysis, [], 'no analysis run for a first release');
    const v2 = await deploy(d, 'v2');
    await waitFor(
      'observing to hold',
      async () => (await release(d, v2.id)).events.some((e: any) => e.type === 'analysis' && e.data.kind === 'hold'),
      20_000,
    );
    assert.equal((await release(d, v2.id)).phase, 'observing', 'an inconclusive run waits for the operator');
    const p = cli(s, ['promote', 'web']);
    assert.equal(p.code, 0, p.stdout + p.stderr);
    await waitPhase(d, v2.id, ['promoted']);

    const load = steadyLoad(s.port, 6);
    try {
      const bad = await deploy(d, 'late500');
      const end = await settled(d, bad.id);
      await load.stop();
      assert.equal(end.phase, 'rolled-back', end.reason);
      assert.match(end.reason, /^analysis failed: observing failed .*error_rate [\d.]+% on blue is above the max 1%/);
      const observing = end.analysis.find((a: any) => a.label === 'observing');
      assert.equal(observing.state, 'fail');
      assert.equal(observing.rules[0].threshold, '<= 1%');
      for (let i = 0; i < 20; i++) assert.equal((await served(s.port)).version, 'v2', 'users are back on the old slot');
      const st = cli(s, ['status', 'web']);
      assert.match(st.stdout, /rolled-back/);
      assert.match(st.stdout, /analysis observing: fail \(rollback\)/);
      const hist = cli(s, ['history', 'web']);
      assert.match(hist.stdout, /late500 .*rolled-back +analysis failed: observing failed/);
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  } finally {
    await d.stop();
    cleanup(s);
  }
});

test('a shift step with too little traffic to judge holds until `cutover promote`, which moves on to the next step', async () => {
  const s = await releaseSetup({
    shift: { steps: [30, 100], hold: '500ms' },
    analysis: { interval: '250ms', window: '500ms', minSamples: 10, failureLimit: 2, inconclusive: 'hold' },
  });
  const d = await startUp(s);
  try {
    const v1 = await deploy(d, 'v1');
    await waitPhase(d, v1.id, ['promoted', 'retired']);

    const v2 = await deploy(d, 'v2');
    await waitFor(
      'the 30% step to hold',
      async () =>
        (await release(d, v2.id)).events.some((e: any) => e.type === 'analysis' && e.data.kind === 'hold' && e.data.label === 'step 30%'),
      20_000,
    );
    const st = (await d.api('GET', '/api/v1/services/web')).json;
    assert.deepEqual([st.live, st.weights], ['blue', { blue: 70, green: 30 }], 'the step holds its weights');
    assert.equal(cli(s, ['promote', 'web']).code, 0);
    await waitFor('all traffic on green', async () => (await d.api('GET', '/api/v1/services/web')).json.weights.green === 100, 20_000);
    await waitFor(
      'observing to hold',
      async () =>
        (await release(d, v2.id)).events.some((e: any) => e.type === 'analysis' && e.data.kind === 'hold' && e.data.label === 'observing'),
      20_000,
    );
    assert.equal(cli(s, ['promote', 'web']).code, 0);
    await waitPhase(d, v2.id, ['promoted']);
    assert.equal((await served(s.port)).version, 'v2');
  } finally {
    await d.stop();
    cleanup(s);
  }
});
