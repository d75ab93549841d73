// With an etcd store and the default `fleet.router: true`, the fleet router of a `cutover up` runs its
// routers in the stateDir's supervisor: a SIGKILLed controller leaves them serving their last table,
// and the next `cutover up` attaches to the same router processes, reads etcd, and acks again; a
// SIGHUP restarts the controller in place over them; with no controller back, the grace ends all.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { startEtcdCluster } from './etcd-cluster.ts';
import { etcdStoreUrl } from './fleet-helpers.ts';
import { startUpstream, waitFor } from './helpers.ts';
import { cleanup, listening, type Running, startUp } from './lifecycle-helpers.ts';
import { alive, gone, keepAliveLoad, serving, writeStaticServices } from './supervisor-helpers.ts';

const cluster = await startEtcdCluster(1);
const blue = await startUpstream('blue');
const green = await startUpstream('green');
after(async () => {
  await blue.close();
  await green.close();
  await cluster.close();
});

interface Seen {
  supervisor: number;
  routers: number[];
  /** The generation the supervisor's routers serve. */
  serving: number;
  /** What the fleet's registry says this machine's router acks. */
  acked: number | null;
}

/** Waits until this controller leads, is attached to its supervisor, and its fleet router is registered. */
function leading(d: Running): Promise<Seen> {
  return waitFor(
    'the controller to lead, attached to its supervisor, its router registered',
    async () => {
      const r = await d.api('GET', '/api/v1/services/web');
      const st = r.json;
      if (r.status !== 200 || st.supervisor?.controllers !== 1 || st.supervisor.routers === null) return undefined;
      if (st.fleet.routers.length !== 1) return undefined;
      return {
        supervisor: st.supervisor.pid,
        routers: st.supervisor.routers.processes.map((p: { pid: number }) => p.pid),
        serving: st.supervisor.routers.generation,
        acked: st.fleet.routers[0].generation,
      };
    },
    30_000,
  );
}

/** A fleet controller on a config of its own (its own key prefix in etcd). */
function fleetSetup(grace = '60s'): ReturnType<typeof writeStaticServices> {
  const store = etcdStoreUrl(cluster, `/cutover-fleet-router-restart/${randomUUID()}`);
  return writeStaticServices({ web: { blue: blue.address, green: green.address } }, { store }, grace);
}

const text = async (port: number): Promise<string> =>
  (await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(2000) })).text();

test('with etcd and fleet.router on, a SIGKILLed controller leaves its routers serving; `cutover up` again attaches to the same router pids, 0 failed, and switches reach them; SIGTERM stops all', async () => {
  const s = await fleetSetup();
  let d = await startUp(s);
  try {
    await serving(s.port);
    const before = await leading(d);
    assert.ok(before.routers.length > 0 && before.routers.every(alive), `the supervisor runs the routers: ${before.routers}`);
    assert.ok(!before.routers.includes(d.child.pid!), 'the routers are not the controller');
    assert.equal(before.acked, before.serving, 'the fleet router acks what the routers serve');
    assert.equal(await text(s.port), 'blue');

    const load = keepAliveLoad(s.port, 10);
    await new Promise((r) => setTimeout(r, 300));
    await d.stop('SIGKILL');
    // No controller now, and once its lease runs out (2 s) no record in etcd: the routers serve alone.
    const killedAt = Date.now();
    while (Date.now() - killedAt < 2500) {
      assert.equal(await text(s.port), 'blue', 'served on a new connection with no controller');
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(before.routers.every(alive), 'the routers outlived the controller');

    d = await startUp(s);
    const after = await leading(d);
    assert.equal(after.supervisor, before.supervisor, 'the same supervisor');
    assert.deepEqual(after.routers, before.routers, 'the same router processes: no second listener');
    assert.equal(after.serving, before.serving, 'no generation lost or repeated by the attach');
    assert.equal(after.acked, before.serving, 'the restarted fleet router acks the generation the routers serve');
    assert.match(d.output(), /"msg":"attached to the routers already serving"/);

    const sw = await d.api('POST', '/api/v1/services/web/switch', { slot: 'green' });
    assert.equal(sw.status, 200, JSON.stringify(sw.json));
    assert.equal(sw.json.generation, before.serving + 1);
    // The switch answers once this machine's router acked it: the routers serve green already.
    assert.equal(await text(s.port), 'green', 'the switch reached the routers');
    const now = await leading(d);
    assert.equal(now.serving, before.serving + 1);
    assert.deepEqual(now.routers, before.routers);

    const r = await load.stop();
    assert.deepEqual(
      r.failures.slice(0, 5),
      [],
      `failed requests across the kill and the attach (${r.ok} ok, ${r.failures.length} failed)`,
    );
    assert.ok(r.ok > 0);
    process.stdout.write(`# etcd + fleet.router, controller SIGKILL + up: ${r.ok} ok, 0 failed, longest gap ${r.maxGapMs} ms\n`);

    // A deliberate stop drains and stops the supervisor and its routers, and closes the port.
    await d.stop('SIGTERM');
    assert.equal(d.child.exitCode, 0, d.output());
    await gone([before.supervisor, ...before.routers], 20_000);
    assert.equal(await listening(`127.0.0.1:${s.port}`), false, 'the port is closed');
  } finally {
    await d.stop('SIGKILL');
    cleanup(s);
  }
});

test('with etcd and fleet.router on, SIGHUP restarts the controller in place over the same routers: 0 failed, the same pids, and it leads and switches again', async () => {
  const s = await fleetSetup();
  const d = await startUp(s);
  try {
    await serving(s.port);
    const before = await leading(d);
    const load = keepAliveLoad(s.port, 10);
    await new Promise((r) => setTimeout(r, 300));
    process.kill(d.child.pid!, 'SIGHUP');
    await waitFor('the restarted controller', () => (d.output().match(/cutover is up/g) ?? []).length === 2 || undefined, 30_000);
    const after = await leading(d);
    assert.equal(d.child.exitCode, null, 'the same controller process runs on (it printed "cutover is up" twice)');
    assert.equal(after.supervisor, before.supervisor, 'the same supervisor');
    assert.deepEqual(after.routers, before.routers, 'the same router processes');
    assert.equal(after.serving, before.serving, 'no generation lost or repeated');

    const sw = await d.api('POST', '/api/v1/services/web/switch', { slot: 'green' });
    assert.equal(sw.status, 200, JSON.stringify(sw.json));
    assert.equal(await text(s.port), 'green', 'the switch reached the routers');
    const r = await load.stop();
    assert.deepEqual(r.failures.slice(0, 5), [], `failed requests across the SIGHUP (${r.ok} ok, ${r.failures.length} failed)`);
    assert.ok(r.ok > 0);
    process.stdout.write(`# etcd + fleet.router, SIGHUP: ${r.ok} ok, 0 failed, longest gap ${r.maxGapMs} ms\n`);
  } finally {
    await d.stop();
    cleanup(s);
  }
});

test('with etcd and fleet.router on and no controller back within supervisor.grace, the routers serve until it ends, then everything stops and the port closes', async () => {
  const s = await fleetSetup('3s');
  const d = await startUp(s);
  try {
    await serving(s.port);
    const p = await leading(d);
    await d.stop('SIGKILL');
    const killedAt = Date.now();
    assert.equal(await text(s.port), 'blue', 'served with no controller');
    await gone([p.supervisor, ...p.routers], 20_000);
    assert.ok(Date.now() - killedAt >= 2500, 'not before the grace ran out');
    assert.equal(await listening(`127.0.0.1:${s.port}`), false, 'the port is closed');
  } finally {
    await d.stop('SIGKILL');
    cleanup(s);
  }
});
