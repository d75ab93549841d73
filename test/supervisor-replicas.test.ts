// The process provider's replicas outlive the controller: the supervisor starts and keeps them, the
// store records each before it starts, and a new `cutover up` adopts those that run (same pid, same
// start time, healthy) instead of starting them again. With no controller back within the grace,
// everything the supervisor ran is stopped: counted process by process.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from './helpers.ts';
import { cleanup, deploy, listening, type Running, served, startUp, waitPhase, writeSetup } from './lifecycle-helpers.ts';
import { answeringPids, descendants, gone, keepAliveLoad, processes } from './supervisor-helpers.ts';

async function adopted(d: Running): Promise<true> {
  return waitFor('the replicas adopted', () => d.output().includes('"msg":"replicas adopted"') || undefined, 30_000);
}

test('a SIGKILLed controller leaves the replicas serving; `cutover up` again adopts the same pids, 0 failed, and a release afterwards works', async () => {
  const s = await writeSetup();
  let d = await startUp(s);
  try {
    await waitPhase(d, (await deploy(d, 'v1')).id, ['promoted', 'retired']);
    const before = await answeringPids(s.port);
    assert.equal(before.length, 2, `both replicas answer: ${before}`);
    const sup = (await processes(d)).supervisor;
    const load = keepAliveLoad(s.port, 10, '/version');
    try {
      await new Promise((r) => setTimeout(r, 300));
      await d.stop('SIGKILL');
      // No controller: the routers and the replicas serve on their own.
      await new Promise((r) => setTimeout(r, 500));
      d = await startUp(s);
      await adopted(d);
      const after = await waitFor('the new controller to attach', async () => {
        const p = await processes(d);
        return p.controllers === 1 ? p : undefined;
      });
      assert.equal(after.supervisor, sup, 'the same supervisor');
      assert.deepEqual(await answeringPids(s.port), before, 'the same replica processes answer');
      assert.doesNotMatch(d.output(), /replicas found running are stopped/, 'nothing was discarded');
      const r = await load.stop();
      assert.deepEqual(
        r.failures.slice(0, 5),
        [],
        `failed requests across the kill and the adoption (${r.ok} ok, ${r.failures.length} failed)`,
      );
      process.stdout.write(`# controller SIGKILL + up with 2 replicas adopted: ${r.ok} ok, 0 failed, longest gap ${r.maxGapMs} ms\n`);

      // The adopted slot is a slot like any other: a release replaces it, and the standby is the old pids.
      await waitPhase(d, (await deploy(d, 'v2')).id, ['promoted', 'retired'], 60_000);
      assert.equal((await served(s.port)).version, 'v2');
      const v2 = await answeringPids(s.port);
      assert.equal(v2.length, 2);
      assert.ok(
        v2.every((p) => !before.includes(p)),
        'v2 runs replicas of its own',
      );

      const tree = [sup, ...descendants(sup)];
      await d.stop('SIGTERM');
      await gone(tree, 20_000);
      assert.equal(await listening(`127.0.0.1:${s.port}`), false, 'the port is closed');
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  } finally {
    await d.stop('SIGKILL');
    cleanup(s);
  }
});

test('with no controller back within the grace, the routers drain, the replicas stop and the supervisor exits: no process of it is left', async () => {
  const s = await writeSetup({}, { supervisor: { grace: '3s' } });
  const d = await startUp(s);
  try {
    await waitPhase(d, (await deploy(d, 'v1')).id, ['promoted', 'retired']);
    const replicas = await answeringPids(s.port);
    assert.equal(replicas.length, 2);
    const sup = (await processes(d)).supervisor;
    const tree = descendants(sup);
    for (const pid of replicas) assert.ok(tree.includes(pid), `replica ${pid} is the supervisor's`);
    // Two replicas, a router, the replicas' watchdog at least.
    assert.ok(tree.length >= 4, `the supervisor's processes: ${tree.join(', ')}`);
    await d.stop('SIGKILL');
    const killedAt = Date.now();
    assert.equal((await served(s.port)).version, 'v1', 'served with no controller');
    await gone([sup, ...tree], 30_000);
    assert.ok(Date.now() - killedAt >= 2500, 'not before the grace ran out');
    assert.equal(await listening(`127.0.0.1:${s.port}`), false, 'the port is closed');
  } finally {
    cleanup(s);
  }
});

test('a SIGKILLed supervisor is replaced: the controller restarts in place, a new supervisor brings routers and replicas back, releases go on', async () => {
  const s = await writeSetup();
  const d = await startUp(s);
  try {
    await waitPhase(d, (await deploy(d, 'v1')).id, ['promoted', 'retired']);
    const old = await processes(d);
    const oldReplicas = await answeringPids(s.port);
    process.kill(old.supervisor, 'SIGKILL');
    const killedAt = Date.now();
    // Its routers and (through its watchdog) its replicas go with it; the listener is gone meanwhile.
    await gone([old.supervisor, ...old.routers, ...oldReplicas], 20_000);
    await waitFor('v1 served again', async () => ((await served(s.port).catch(() => null))?.version === 'v1' ? true : undefined), 60_000);
    const back = Date.now() - killedAt;
    const now = await waitFor('a new supervisor with the controller attached', async () => {
      const p = await processes(d);
      return p.controllers === 1 && p.supervisor !== old.supervisor ? p : undefined;
    });
    assert.notEqual(now.supervisor, old.supervisor);
    assert.equal(d.child.exitCode, null, 'the controller (the pid systemd knows) runs on');
    assert.match(d.output(), /the supervisor is gone \(killed\?\): restarting in place/);
    process.stdout.write(`# supervisor SIGKILLed: users answered again after ${back} ms (new supervisor, routers and replicas)\n`);
    await waitPhase(d, (await deploy(d, 'v2')).id, ['promoted', 'retired'], 60_000);
    assert.equal((await served(s.port)).version, 'v2');
  } finally {
    await d.stop();
    cleanup(s);
  }
});
