// Abort in each phase before traffic moves: the release ends aborted with the operator's reason, its
// slot is stopped, and the live slot is never touched.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from './helpers.ts';
import { cleanup, deploy, served, startUp, waitPhase, writeSetup, replicasOf, type Running } from './lifecycle-helpers.ts';

async function abortIn(phase: 'provisioning' | 'awaiting-approval', d: Running, port: number): Promise<void> {
  const version = `v2-${Math.random().toString(36).slice(2, 8)}`;
  const rel = await deploy(d, version);
  await waitFor(
    phase,
    async () => ((await d.api('GET', `/api/v1/services/web/releases/${rel.id}`)).json.phase === phase ? true : undefined),
    15_000,
  );
  const r = await d.api('POST', '/api/v1/services/web/abort', { reason: `stopped in ${phase} by the test` });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const end = await waitPhase(d, rel.id, ['aborted']);
  assert.match(end.reason, new RegExp(`stopped in ${phase} by the test`));
  assert.equal((await served(port)).version, 'v1', 'the live slot never moved');
  const st = (await d.api('GET', '/api/v1/services/web')).json;
  assert.equal(st.live, 'blue');
  await waitFor(`the replicas of ${version} to stop`, () => (replicasOf(version) === 0 ? true : undefined), 15_000);
}

test('abort during provisioning stops the new replicas and leaves v1 live', async () => {
  const s = await writeSetup();
  const d = await startUp(s);
  try {
    await waitPhase(d, (await deploy(d, 'v1')).id, ['retired']);
    await abortIn('provisioning', d, s.port);
  } finally {
    await d.stop();
    cleanup(s);
  }
});

test('abort while awaiting approval stops the verified slot and leaves v1 live', async () => {
  const s = await writeSetup({ approval: 'manual' });
  const d = await startUp(s);
  try {
    const first = await deploy(d, 'v1');
    await waitFor('v1 awaiting approval', async () =>
      (await d.api('GET', `/api/v1/services/web/releases/${first.id}`)).json.phase === 'awaiting-approval' ? true : undefined,
    );
    assert.equal((await d.api('POST', '/api/v1/services/web/promote', {})).status, 200);
    await waitPhase(d, first.id, ['retired']);
    await abortIn('awaiting-approval', d, s.port);
  } finally {
    await d.stop();
    cleanup(s);
  }
});
