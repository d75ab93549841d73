// Analysis behind HAProxy: users' requests go through HAProxy, never through cutover's router, so the
// built-in metrics are read from HAProxy's own per-server counters (`show stat`). With
// `inconclusive: hold`, a release on no evidence would wait for an operator: one that is promoted, and
// one that is rolled back, were both judged on HAProxy's counts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startHaproxy } from './balancers.ts';
import { waitFor } from './helpers.ts';
import { cleanup, deploy, served, startUp, steadyLoad, waitPhase } from './lifecycle-helpers.ts';
import { releaseSetup, settled } from './release-helpers.ts';

test('behind HAProxy, a healthy version is promoted and one that answers 500 is rolled back, judged on HAProxy’s counters', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-analysis-haproxy-'));
  const haproxy = await startHaproxy(dir);
  const s = await releaseSetup({
    traffic: { kind: 'haproxy', socket: haproxy.socket, backend: haproxy.backend },
    analysis: { interval: '250ms', window: '2s', minSamples: 10, failureLimit: 2, inconclusive: 'hold', watchStandby: false },
  });
  const d = await startUp(s);
  try {
    const v1 = await deploy(d, 'v1');
    await waitPhase(d, v1.id, ['promoted', 'retired']);
    await waitFor('HAProxy serving v1', async () => (await served(haproxy.port)).version === 'v1');
    const status = (await d.api('GET', '/api/v1/services/web')).json;
    assert.deepEqual(status.analysisSource, { source: 'haproxy', note: null });

    const load = steadyLoad(haproxy.port, 6);
    try {
      const v2 = await deploy(d, 'v2');
      const good = await settled(d, v2.id);
      assert.equal(good.phase, 'promoted', good.reason);
      const observing = good.analysis.find((a: any) => a.label === 'observing');
      assert.equal(observing.state, 'pass', JSON.stringify(observing));

      const bad = await deploy(d, 'bad500');
      const end = await settled(d, bad.id);
      assert.equal(end.phase, 'rolled-back', end.reason);
      assert.match(end.reason, /error_rate [\d.]+% on blue is above the max 1% \(over \d+ requests\)/);
    } finally {
      await load.stop();
    }
    // The phase is recorded before its effect: the switch back through HAProxy follows within its round trips.
    await waitFor('HAProxy serving v2 again', async () => (await served(haproxy.port)).version === 'v2', 5000);
    for (let i = 0; i < 10; i++) assert.equal((await served(haproxy.port)).version, 'v2', 'users are back on v2 through HAProxy');
  } finally {
    await d.stop();
    await haproxy.stop();
    cleanup(s);
    rmSync(dir, { recursive: true, force: true });
  }
});
