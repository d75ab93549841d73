// Rollback is always there: a release refused by its gates (which had reused the standby's slot)
// leaves things as they were, the displaced standby provisioned again, so `cutover rollback` is
// instant; and `cutover rollback --to` a version that is not on standby is a release of it through
// its gates, done by the controller and named a rollback in the events, the history and the output.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from './helpers.ts';
import { cleanup, cli, deploy, served, startUp, waitPhase } from './lifecycle-helpers.ts';
import { RELEASE_APP, releaseSetup } from './release-helpers.ts';

const status = async (d: Awaited<ReturnType<typeof startUp>>) => (await d.api('GET', '/api/v1/services/web')).json;

test('after a release refused by its gates, the standby it displaced is back and `cutover rollback` is instant; `--to` an older version is a release of it through its gates', async () => {
  const s = await releaseSetup({
    provider: { kind: 'process', command: [process.execPath, RELEASE_APP, '{version}'], replicas: 1, stopGrace: '1s' },
    gates: [{ http: { requests: [{ path: '/ready', expect: { status: 200 } }], timeout: '10s' } }],
    standby: '10m',
  });
  const d = await startUp(s);
  try {
    await waitPhase(d, (await deploy(d, 'g1')).id, ['retired', 'promoted']);
    await waitPhase(d, (await deploy(d, 'g2')).id, ['promoted'], 45_000);
    assert.equal((await status(d)).slots.blue.version, 'g1', 'g1 stands by in blue');

    // smokefail reuses blue (g1's standby) and fails its smoke gate.
    const bad = await deploy(d, 'smokefail');
    assert.equal(bad.slot, 'blue');
    const failed = await waitFor(
      'smokefail to fail',
      async () => {
        const r = (await d.api('GET', `/api/v1/services/web/releases/${bad.id}`)).json;
        return r.phase === 'failed' ? r : undefined;
      },
      45_000,
    );
    assert.equal(failed.data.displacedStandby.version, 'g1', 'the release recorded the standby it displaced');
    await waitFor('g1 back on standby in blue', async () => ((await status(d)).slots.blue.version === 'g1' ? true : undefined), 20_000);
    const events = (await d.api('GET', `/api/v1/services/web/releases/${bad.id}`)).json.events as { reason: string }[];
    assert.ok(
      events.some((e) => /version g1, which it displaced, is provisioned again in blue, on standby until/.test(e.reason)),
      'the events say the standby came back',
    );
    assert.equal((await served(s.port)).version, 'g2', 'live never moved');
    await waitFor('g1 healthy again', async () => (await status(d)).slots.blue.targets.every((t: any) => t.healthy) || undefined, 20_000);

    // Rollback now: instant, to the version that stood by.
    const back = cli(s, ['rollback', 'web']);
    assert.equal(back.code, 0, back.stdout + back.stderr);
    assert.match(back.stdout, /rolled back to version g1, which stood by in blue: it is live again/);
    assert.equal((await served(s.port)).version, 'g1');
    const st = await status(d);
    assert.equal(st.live, 'blue');
    assert.equal(st.release.version, 'g1');
    assert.equal(st.release.phase, 'promoted');
    assert.equal(st.release.data.rollback.instant, true);
    assert.equal(st.release.gates.length, 0, 'an instant rollback runs no gates');
    assert.equal(st.slots.green.version, 'g2', 'what it rolled back from stands by');

    // --to an older version that is not on standby: a release of it through its gates, named a rollback.
    const to = cli(s, ['rollback', 'web', '--to', 'g0', '--wait']);
    assert.equal(to.code, 0, to.stdout + to.stderr);
    assert.match(
      to.stdout,
      /version g0 is not on standby: rolling back by a release of g0 through its gates \(rollback release \S+ into green\)/,
    );
    assert.equal((await served(s.port)).version, 'g0');
    const st2 = await status(d);
    assert.equal(st2.release.version, 'g0');
    assert.equal(st2.release.data.rollback.instant, false);
    assert.equal(st2.release.gates.length, 1, 'its smoke gate ran');
    assert.match(st2.release.events[0].reason, /^rollback to version g0 from g1/);
    const h = cli(s, ['history', 'web']);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /g0 \(rollback\)/);
    assert.match(h.stdout, /g1 \(rollback\)/);
  } finally {
    await d.stop();
    cleanup(s);
  }
});

test('`cutover rollback` with nothing on standby and no earlier version is refused, changing nothing', async () => {
  const s = await releaseSetup({});
  const d = await startUp(s);
  try {
    await waitPhase(d, (await deploy(d, 'g1')).id, ['retired', 'promoted']);
    const before = await status(d);
    const r = cli(s, ['rollback', 'web']);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stderr, /no earlier version to roll back to/);
    const same = cli(s, ['rollback', 'web', '--to', 'g1']);
    assert.equal(same.code, 3);
    assert.match(same.stderr, /version g1 of web is live already/);
    const after = await status(d);
    assert.equal(after.generation, before.generation);
    assert.equal((await d.api('GET', '/api/v1/services/web/releases')).json.length, 1, 'no release was created');
  } finally {
    await d.stop();
    cleanup(s);
  }
});
