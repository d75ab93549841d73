// Lifecycle hooks, as commands and webhooks, with real processes: each point runs in the order a
// release reaches it with the release in its environment or body; a failing hook before traffic
// moves fails the release and leaves the live slot alone; one after is recorded and notified.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitFor } from './helpers.ts';
import { cleanup, deploy, served, startUp, steadyLoad } from './lifecycle-helpers.ts';
import { releaseSetup, settled } from './release-helpers.ts';

const POINTS = [
  'beforeProvision',
  'afterProvision',
  'beforeSwitch',
  'afterSwitch',
  'afterPromote',
  'beforeRetire',
  'onRollback',
  'onFailure',
];

test('hooks run at every point of a release, in order, as commands and webhooks; one failing before the switch fails the release, one failing after is only recorded', async () => {
  const bodies: any[] = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      bodies.push({ auth: req.headers.authorization, ...JSON.parse(body) });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/deploys`;
  const log = (point: string) => `echo "${point} $CUTOVER_VERSION $CUTOVER_SLOT $CUTOVER_FROM_SLOT" >> hooks.log`;
  const hooks: Record<string, unknown> = Object.fromEntries(POINTS.map((p) => [p, log(p)]));
  hooks.beforeSwitch = [log('beforeSwitch'), 'test "$CUTOVER_VERSION" != v3 || { echo "v3 is frozen" >&2; exit 4; }'];
  hooks.afterPromote = [log('afterPromote'), 'test "$CUTOVER_VERSION" != v2', { url, headers: { authorization: 'Bearer hook' } }];
  const s = await releaseSetup({
    hooks,
    standby: '1s',
    analysis: { interval: '250ms', window: '1s', minSamples: 10, failureLimit: 2, inconclusive: 'pass' },
  });
  const d = await startUp(s).catch((err) => {
    receiver.close();
    throw err;
  });
  const lines = (): string[] => readFileSync(join(s.dir, 'hooks.log'), 'utf8').trim().split('\n');
  try {
    const v1 = await deploy(d, 'v1');
    assert.ok(['promoted', 'retired'].includes((await settled(d, v1.id)).phase));
    const v2 = await deploy(d, 'v2');
    const end2 = await settled(d, v2.id, ['retired', 'rolled-back', 'failed']);
    assert.equal(end2.phase, 'retired', 'a failing afterPromote hook does not stop the release');
    const failedHook = end2.events.find((e: any) => e.type === 'hook' && e.data.ok === false);
    assert.equal(failedHook?.data.point, 'afterPromote', 'the failing after-hook is recorded');
    assert.match(failedHook.reason, /afterPromote hook failed: command: test .* \(exit 1\)/);
    assert.deepEqual(
      lines().filter((l) => l.includes(' v2 ')),
      [
        'beforeProvision v2 green blue',
        'afterProvision v2 green blue',
        'beforeSwitch v2 green blue',
        'afterSwitch v2 green blue',
        'afterPromote v2 green blue',
        'beforeRetire v2 green blue',
      ],
    );
    // Run after a failing one: every after-hook hears the news.
    await waitFor('the afterPromote webhook', async () => bodies.find((b) => b.release.version === 'v2'), 15_000);
    const body = bodies.find((b) => b.release.version === 'v2');
    assert.equal(body.auth, 'Bearer hook');
    assert.equal(body.hook, 'afterPromote');
    assert.deepEqual([body.service, body.release.id, body.release.slot, body.release.fromSlot], ['web', v2.id, 'green', 'blue']);

    const v3 = await deploy(d, 'v3');
    const end3 = await settled(d, v3.id);
    assert.equal(end3.phase, 'failed');
    assert.match(end3.reason, /beforeSwitch hook command: test .* failed \(exit 4\).*\n.*v3 is frozen/s);
    assert.equal((await served(s.port)).version, 'v2', 'the live slot was never touched');
    await waitFor('the onFailure hook', async () => lines().includes('onFailure v3 blue green'), 10_000);

    const load = steadyLoad(s.port, 4);
    const end4 = await deploy(d, 'bad500')
      .then((bad) => settled(d, bad.id))
      .finally(() => load.stop());
    assert.equal(end4.phase, 'rolled-back', end4.reason);
    await waitFor('the onRollback hook', async () => lines().includes('onRollback bad500 blue green'), 10_000);
  } finally {
    await d.stop();
    cleanup(s);
    receiver.close();
  }
});
