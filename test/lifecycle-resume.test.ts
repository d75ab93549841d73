// A daemon killed with SIGKILL and started again on the same state: the live slot (and the standby
// slot) run again from the store (their replicas, which the supervisor kept, adopted; a release's
// slot before traffic moved provisioned again), traffic only reaches healthy targets, and the
// release continues.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from './helpers.ts';
import { cleanup, deploy, listening, served, startUp, waitPhase, writeSetup, replicasOf } from './lifecycle-helpers.ts';

test('after a SIGKILL with a promoted release, the restarted daemon adopts the live and standby replicas, serves on, and can still roll back', async () => {
  const s = await writeSetup({ standby: '10m' });
  let d = await startUp(s);
  try {
    await waitPhase(d, (await deploy(d, 'v1')).id, ['retired']);
    const rel = await deploy(d, 'v2');
    await waitPhase(d, rel.id, ['promoted']);
    const before = (await d.api('GET', '/api/v1/services/web')).json;
    const oldTargets = [...before.slots.blue.targets, ...before.slots.green.targets].map((t: any) => t.address);
    assert.equal(oldTargets.length, 4);

    await d.stop('SIGKILL');
    // The replicas outlive the controller: the supervisor keeps them.
    for (const a of oldTargets) assert.equal(await listening(a), true, `replica ${a} runs on`);

    d = await startUp(s);
    // No answer ever comes from v1.
    const seen = new Set<string>();
    await waitFor(
      'v2 to be served again',
      async () => {
        const r = await served(s.port).catch(() => ({ status: 0, version: undefined }));
        seen.add(r.status === 200 ? `200 ${r.version}` : String(r.status));
        return r.status === 200;
      },
      20_000,
    );
    assert.equal((await served(s.port)).version, 'v2');
    assert.ok(!seen.has('200 v1'), `answers while starting again: ${[...seen].join(', ')}`);

    const st = (await d.api('GET', '/api/v1/services/web')).json;
    assert.equal(st.live, 'green');
    assert.equal(st.release.id, rel.id);
    assert.equal(st.release.phase, 'promoted');
    await waitFor('v1 on standby to be healthy again', async () => {
      const x = (await d.api('GET', '/api/v1/services/web')).json;
      return x.slots.blue.version === 'v1' && x.slots.blue.targets.length === 2 && x.slots.blue.targets.every((t: any) => t.healthy);
    });
    const newTargets = [...st.slots.blue.targets, ...st.slots.green.targets].map((t: any) => t.address);
    assert.deepEqual(newTargets, oldTargets, 'both slots run on the targets they had: adopted, not started again');

    const rb = await d.api('POST', '/api/v1/services/web/rollback', {});
    assert.equal(rb.status, 200, JSON.stringify(rb.json));
    assert.equal((await served(s.port)).version, 'v1');
  } finally {
    await d.stop();
    cleanup(s);
  }
});

test('after a SIGKILL during verifying, the restarted daemon provisions the release again while live keeps serving, and it can be aborted', async () => {
  const s = await writeSetup();
  let d = await startUp(s);
  try {
    await waitPhase(d, (await deploy(d, 'v1')).id, ['retired']);
    const rel = await deploy(d, 'v3'); // never healthy: stays in verifying
    await waitPhase(d, rel.id, ['verifying']);
    await d.stop('SIGKILL');

    d = await startUp(s);
    await waitFor('v1 to be served again', async () => (await served(s.port)).version === 'v1', 20_000);
    await waitFor('the release to have its slot running again', async () => {
      const x = (await d.api('GET', '/api/v1/services/web')).json;
      return (
        x.release.phase === 'verifying' &&
        x.slots.green.version === 'v3' &&
        x.slots.green.targets.length === 2 &&
        (await Promise.all(x.slots.green.targets.map((t: any) => listening(t.address)))).every(Boolean)
      );
    });
    const green = (await d.api('GET', '/api/v1/services/web')).json.slots.green.targets.map((t: any) => t.address);
    const ab = await d.api('POST', '/api/v1/services/web/abort', {});
    assert.equal(ab.status, 200, JSON.stringify(ab.json));
    assert.equal(ab.json.phase, 'aborted');
    for (const a of green) assert.equal(await listening(a), false);
    assert.equal((await served(s.port)).version, 'v1');
  } finally {
    await d.stop();
    cleanup(s);
  }
});

test('after a SIGKILL while observing, the restarted daemon starts both slots again and the release goes on to promoted', async () => {
  const s = await writeSetup({ analysis: { interval: '1s', window: '3s', inconclusive: 'pass' } });
  let d = await startUp(s);
  try {
    await waitPhase(d, (await deploy(d, 'v1')).id, ['retired']);
    const rel = await deploy(d, 'v2');
    await waitPhase(d, rel.id, ['observing']);
    await d.stop('SIGKILL');

    d = await startUp(s);
    const seen = new Set<string>();
    const done = waitPhase(d, rel.id, ['promoted'], 30_000);
    let finished = false;
    void done.then(
      () => (finished = true),
      () => (finished = true),
    );
    while (!finished) {
      const r = await served(s.port).catch(() => ({ status: 0, version: undefined }));
      seen.add(r.status === 200 ? `200 ${r.version}` : String(r.status));
      await new Promise((res) => setTimeout(res, 50));
    }
    await done;
    assert.ok(!seen.has('200 v1'), `traffic stayed on green: ${[...seen].join(', ')}`);
    assert.equal((await served(s.port)).version, 'v2');
    const st = (await d.api('GET', '/api/v1/services/web')).json;
    assert.equal(st.live, 'green');
    assert.equal(st.slots.blue.version, 'v1', 'v1 stands by again');
  } finally {
    await d.stop();
    cleanup(s);
  }
});

test('after a SIGKILL while awaiting approval, the restarted daemon runs the release slot again and still waits for `promote`', async () => {
  const s = await writeSetup({ approval: 'manual' });
  let d = await startUp(s);
  try {
    const v1 = await deploy(d, 'v1');
    await waitPhase(d, v1.id, ['awaiting-approval']);
    assert.equal((await d.api('POST', '/api/v1/services/web/promote', {})).status, 200);
    await waitPhase(d, v1.id, ['retired']);
    const rel = await deploy(d, 'v2');
    await waitPhase(d, rel.id, ['awaiting-approval']);
    await d.stop('SIGKILL');

    d = await startUp(s);
    await waitFor('v1 to be served again', async () => (await served(s.port)).version === 'v1', 20_000);
    await waitFor('v2 to run again in green, healthy', async () => {
      const x = (await d.api('GET', '/api/v1/services/web')).json;
      return x.slots.green.version === 'v2' && x.slots.green.targets.length === 2 && x.slots.green.targets.every((t: any) => t.healthy);
    });
    assert.equal((await d.api('GET', `/api/v1/services/web/releases/${rel.id}`)).json.phase, 'awaiting-approval');
    assert.equal((await d.api('POST', '/api/v1/services/web/promote', {})).status, 200);
    await waitPhase(d, rel.id, ['promoted']);
    assert.equal((await served(s.port)).version, 'v2');
  } finally {
    await d.stop();
    cleanup(s);
  }
});

test('after a SIGKILL during provisioning, the restarted daemon leaves no orphan replica and takes the release on to promoted', async () => {
  const s = await writeSetup();
  let d = await startUp(s);
  try {
    await waitPhase(d, (await deploy(d, 'v1')).id, ['retired']);
    // A version name no other test uses, so its processes can be counted on this machine.
    const v2 = `v2-${Math.random().toString(36).slice(2, 8)}`;
    const rel = await deploy(d, v2);
    // Provisioning lasts while the replicas prove they stay up (about a second): kill the daemon in it.
    await waitFor(
      'provisioning',
      async () => ((await d.api('GET', `/api/v1/services/web/releases/${rel.id}`)).json.phase === 'provisioning' ? true : undefined),
      5000,
    );
    await d.stop('SIGKILL');
    d = await startUp(s);
    await waitPhase(d, rel.id, ['promoted'], 30_000);
    assert.equal((await served(s.port)).version, v2);
    const st = (await d.api('GET', '/api/v1/services/web')).json;
    assert.equal(st.live, 'green');
    assert.equal(st.slots.green.targets.length, 2);
    // The killed daemon's v2 replicas had not finished provisioning: the new daemon stopped them
    // instead of adopting them, and only its own two run v2.
    await waitFor('only two v2 replicas on the machine', () => (replicasOf(v2) === 2 ? true : undefined), 10_000);
    const phases = st.release.events.filter((e: any) => e.type === 'phase').map((e: any) => e.phase);
    assert.deepEqual(
      phases.slice(0, 3),
      ['pending', 'provisioning', 'verifying'],
      'the release went on from where it was, without starting over',
    );
  } finally {
    await d.stop();
    cleanup(s);
  }
});
