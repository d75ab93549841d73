// Rollback with the default analysis timing (interval, failureLimit, minSamples as the config leaves
// them), with real processes and an open-loop load: a version that answers 500 and one that answers
// after 2 s are both rolled back by analysis, for the rule that saw them. How fast is measured by
// `npm run bench -- --mttr`, not asserted here.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { cleanup, deploy, served, startUp, waitPhase } from './lifecycle-helpers.ts';
import { releaseSetup, settled } from './release-helpers.ts';

/** `rate` GETs a second whatever the answers take, as users send them (a closed loop would wait on a slow slot). */
function openLoad(port: number, rate: number): { stop(): Promise<void> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 500 });
  const timer = setInterval(() => {
    for (let i = 0; i < rate / 20; i++) {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => res.resume());
      req.setTimeout(5000, () => req.destroy());
      req.on('error', () => {});
    }
  }, 50);
  return {
    stop: async () => {
      clearInterval(timer);
      await new Promise((r) => setTimeout(r, 100));
      agent.destroy();
    },
  };
}

test('with the default timing a version answering 500 and one answering after 2 s are each rolled back by analysis', async () => {
  const s = await releaseSetup({
    analysis: {
      rules: [
        { metric: 'error_rate', max: 0.01 },
        { metric: 'p99', max: '1s' },
      ],
    },
  });
  const d = await startUp(s);
  try {
    // A first release has nothing to roll back to: promoted once its gates pass.
    const v1 = await deploy(d, 'v1');
    await waitPhase(d, v1.id, ['promoted', 'retired']);

    const load = openLoad(s.port, 200);
    try {
      const bad = await deploy(d, 'bad500');
      const end = await settled(d, bad.id);
      assert.equal(end.phase, 'rolled-back', end.reason);
      assert.match(end.reason, /^analysis failed: observing failed .*error_rate/);

      const slow = await deploy(d, 'slow2s');
      const slowEnd = await settled(d, slow.id);
      assert.equal(slowEnd.phase, 'rolled-back', slowEnd.reason);
      assert.match(slowEnd.reason, /^analysis failed: observing failed .*p99/);
    } finally {
      await load.stop();
    }
    assert.equal((await served(s.port)).version, 'v1', 'users are back on v1');
  } finally {
    await d.stop();
    cleanup(s);
  }
});
