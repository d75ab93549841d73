// Progressive shifting with real processes: weights step up while analysis watches each step, sticky
// clients keep the version they first got, a version that answers 500 once it gets traffic is rolled
// back by itself, and `cutover promote --full` skips the remaining steps.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from './helpers.ts';
import { cleanup, cli, deploy, served, startUp, steadyLoad, waitPhase, type Running, type Setup } from './lifecycle-helpers.ts';
import { release, releaseSetup, settled, stickyClients } from './release-helpers.ts';

describe('a progressive shift [25, 50, 100]', () => {
  let s: Setup;
  let d: Running;

  before(async () => {
    s = await releaseSetup({
      // A hold long enough for `cutover promote --full` (a CLI process) to arrive during the first step on a loaded machine.
      shift: { steps: [25, 50, 100], hold: '4s' },
      analysis: { interval: '250ms', window: '1s', minSamples: 10, failureLimit: 2, inconclusive: 'pass' },
    });
    d = await startUp(s);
    await waitPhase(d, (await deploy(d, 'v1')).id, ['promoted', 'retired']);
  });
  after(async () => {
    await d?.stop();
    if (s) cleanup(s);
  });

  it('promotes a healthy version step by step, and a sticky client never goes back to the old version', async () => {
    const clients = stickyClients(s.port, 8);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const rel = await deploy(d, 'v2');
      const mid = await waitFor('a step between 0 and 100%', async () => {
        const st = (await d.api('GET', '/api/v1/services/web')).json;
        return st.weights.green > 0 && st.weights.green < 100 ? st : undefined;
      });
      assert.equal(mid.live, 'blue');
      const done = await waitPhase(d, rel.id, ['promoted']);
      await new Promise((r) => setTimeout(r, 200));
      const { seen, failures } = await clients.stop();
      assert.deepEqual(failures.slice(0, 5), []);
      for (const versions of seen) {
        assert.ok(
          versions.length <= 2 && (versions.length < 2 || (versions[0] === 'v1' && versions[1] === 'v2')),
          `a client saw ${versions.join(' -> ')}`,
        );
      }
      assert.ok(
        seen.every((v) => v.at(-1) === 'v2'),
        'at 100% every client is on v2',
      );
      const labels = done.analysis.map((a: any) => a.label);
      assert.deepEqual(labels.slice(0, 2), ['step 25%', 'step 50%']);
      assert.equal((await served(s.port)).version, 'v2');
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await clients.stop();
    }
  });

  it('rolls back by itself a version that answers 500 once it gets traffic, naming the rule, the value and the threshold, with users back on the old slot', async () => {
    const load = steadyLoad(s.port, 6);
    try {
      const rel = await deploy(d, 'bad500');
      const end = await settled(d, rel.id);
      const { versions } = await load.stop();
      assert.equal(end.phase, 'rolled-back', end.reason);
      assert.match(end.reason, /analysis failed: step 25% failed .*error_rate 100% on blue is above the max 1%/);
      assert.equal(end.analysis[0].state, 'fail');
      assert.ok((versions.get('v2') ?? 0) > 0);
      const st = (await d.api('GET', '/api/v1/services/web')).json;
      assert.equal(st.live, 'green');
      assert.deepEqual(st.weights, { blue: 0, green: 100 });
      for (let i = 0; i < 20; i++) assert.equal((await served(s.port)).version, 'v2', 'users are back on the old slot');
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  });

  it('`cutover promote --full` moves all traffic at once, skipping the remaining steps', async () => {
    const load = steadyLoad(s.port, 4);
    try {
      const rel = await deploy(d, 'v3');
      await waitFor('the first step', async () => (await d.api('GET', '/api/v1/services/web')).json.weights.blue === 25);
      const r = cli(s, ['promote', 'web', '--full']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const done = await waitPhase(d, rel.id, ['promoted']);
      const { failures } = await load.stop();
      assert.deepEqual(failures.slice(0, 5), []);
      assert.ok(!done.analysis.some((a: any) => a.label === 'step 50%'), 'the 50% step never ran');
      assert.ok(done.events.some((e: any) => e.type === 'approval' && /--full/.test(e.reason)));
      assert.equal((await served(s.port)).version, 'v3');
      assert.equal((await release(d, rel.id)).phase, 'promoted');
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  });
});
