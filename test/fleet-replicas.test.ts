// The process provider's replicas outlive a fleet controller too: with the etcd store, the stateDir's
// supervisor keeps them (the routers are the fleet's: a `cutover router` process here), their records
// are in etcd under this machine's node, and the next `cutover up` adopts the same pids.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { startEtcdCluster } from './etcd-cluster.ts';
import { etcdStoreUrl, Procs } from './fleet-helpers.ts';
import { waitFor } from './helpers.ts';
import { cleanup, deploy, type Running, served, startUp, waitPhase, writeSetup } from './lifecycle-helpers.ts';
import { answeringPids, descendants, gone, keepAliveLoad } from './supervisor-helpers.ts';

const cluster = await startEtcdCluster(1);
const client = new Etcd3({ hosts: cluster.endpoints });
const procs = new Procs(`fleet-replicas-${randomUUID()}`);
after(async () => {
  await procs.killAll();
  client.close();
  await cluster.close();
});

/** Waits until this controller leads (a follower answers 503) and reports its supervisor. */
async function leading(d: Running): Promise<{ supervisor: number; controllers: number }> {
  return waitFor(
    'the controller to lead, attached to its supervisor',
    async () => {
      const r = await d.api('GET', '/api/v1/services/web');
      return r.status === 200 && r.json.supervisor?.controllers === 1 ? { supervisor: r.json.supervisor.pid, controllers: 1 } : undefined;
    },
    30_000,
  );
}

test('with the etcd store, a SIGKILLed controller leaves the replicas serving; `cutover up` again adopts the same pids, 0 failed, and a release afterwards works', async () => {
  const prefix = `/cutover-fleet-replicas/${randomUUID()}`;
  const s = await writeSetup({}, { store: etcdStoreUrl(cluster, prefix), fleet: { router: false } });
  // The fleet's router, serving on through the controller's death.
  const router = await procs.launch('router', ['router', '-c', s.file, '--id', 'edge-1'], /cutover router .* is up/);
  let d = await startUp(s);
  try {
    const { supervisor } = await leading(d);
    await waitPhase(d, (await deploy(d, 'v1')).id, ['promoted', 'retired'], 60_000);
    const before = await answeringPids(s.port);
    assert.equal(before.length, 2, `both replicas answer through the fleet router: ${before}`);
    assert.ok(
      before.every((p) => descendants(supervisor).includes(p)),
      'the replicas are the supervisor children, not the controller',
    );
    // Recorded in etcd under this machine's node (host and stateDir), with their pids.
    const keys = (await client.getAll().prefix(`${prefix}/replicas/`).keys()).map((k) => decodeURIComponent(k));
    assert.equal(keys.length, 2, `replica records: ${keys.join(', ')}`);
    assert.ok(
      keys.every((k) => k.includes(`${s.dir}/state/`)),
      `each keyed by the stateDir: ${keys.join(', ')}`,
    );

    const load = keepAliveLoad(s.port, 10, '/version');
    try {
      await new Promise((r) => setTimeout(r, 300));
      await d.stop('SIGKILL');
      await new Promise((r) => setTimeout(r, 500));
      d = await startUp(s);
      await waitFor('the replicas adopted', () => d.output().includes('"msg":"replicas adopted"') || undefined, 60_000);
      assert.equal((await leading(d)).supervisor, supervisor, 'the same supervisor');
      assert.deepEqual(await answeringPids(s.port), before, 'the same replica processes answer');
      assert.doesNotMatch(d.output(), /replicas found running are stopped/, 'nothing was discarded');
      const r = await load.stop();
      assert.deepEqual(
        r.failures.slice(0, 5),
        [],
        `failed requests across the kill and the adoption (${r.ok} ok, ${r.failures.length} failed)`,
      );
      process.stdout.write(
        `# etcd store, controller SIGKILL + up, 2 replicas adopted: ${r.ok} ok, 0 failed, longest gap ${r.maxGapMs} ms\n`,
      );

      await waitPhase(d, (await deploy(d, 'v2')).id, ['promoted', 'retired'], 60_000);
      assert.equal((await served(s.port)).version, 'v2');
      const v2 = await answeringPids(s.port);
      assert.equal(v2.length, 2);
      assert.ok(
        v2.every((p) => !before.includes(p)),
        'v2 runs replicas of its own',
      );

      // A deliberate stop stops the replicas with the supervisor: nothing is left.
      const tree = [supervisor, ...descendants(supervisor)];
      await d.stop('SIGTERM');
      await gone(tree, 20_000);
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  } finally {
    await d.stop('SIGKILL');
    await router.kill('SIGKILL');
    cleanup(s);
  }
});
