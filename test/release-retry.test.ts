// analysis.retryOnStandby, with the real daemon, real processes and real load: while a version that
// answers 500 is live, every GET users send is answered by the old version from the standby slot,
// and analysis still sees the new slot's failures and rolls it back. (The budget that bounds the
// retries is held to its rate in test/router-retry.test.ts.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanup, cli, deploy, served, startUp, steadyLoad, waitPhase } from './lifecycle-helpers.ts';
import { releaseSetup, settled } from './release-helpers.ts';

test('with retryOnStandby users see no failed GET while a version answering 500 is live, and analysis still rolls it back', async () => {
  const s = await releaseSetup({
    // The default timing; a budget that covers this load (a few thousand GETs a second on loopback).
    analysis: { retryOnStandby: true, retryBudget: 20_000, window: '10s', rules: [{ metric: 'error_rate', max: 0.01 }] },
  });
  const d = await startUp(s);
  let result: Awaited<ReturnType<ReturnType<typeof steadyLoad>['stop']>> = {
    ok: 0,
    versions: new Map(),
    failures: ['the load did not stop'],
  };
  try {
    const v1 = await deploy(d, 'v1');
    await waitPhase(d, v1.id, ['promoted', 'retired']);

    const load = steadyLoad(s.port, 4);
    const end = await deploy(d, 'bad500')
      .then((bad) => settled(d, bad.id))
      .finally(() => load.stop().then((r) => (result = r)));
    assert.equal(end.phase, 'rolled-back', end.reason);
    assert.match(end.reason, /^analysis failed: .*error_rate/);
    assert.deepEqual(result.failures, [], 'no GET failed');
    assert.deepEqual([...result.versions.keys()], ['v1'], 'every answer users got came from v1');
    assert.ok(result.ok > 100, `the load ran (${result.ok} GETs)`);
    // The route table asked for the retry while traffic was on the new slot, and not after.
    const routes = (end.events as any[]).filter((e) => e.type === 'switch' && e.data?.retry);
    assert.ok(routes.length > 0, 'a route table with retry on standby was recorded');
    assert.equal((await served(s.port)).version, 'v1');
  } finally {
    await d.stop();
    cleanup(s);
  }
});

test('cutover validate refuses retryOnStandby with an external balancer, naming the key', async () => {
  const s = await releaseSetup({
    listen: undefined,
    traffic: { kind: 'haproxy', socket: '/tmp/cutover-no-such-haproxy.sock', backend: 'web' },
    analysis: { retryOnStandby: true },
  });
  try {
    const r = cli(s, ['validate', '-c', s.file]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /analysis\.retryOnStandby.*embedded router/);
  } finally {
    cleanup(s);
  }
});
