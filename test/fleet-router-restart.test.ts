// With an etcd store and the default `fleet.router: true`, the fleet router of a `cutover up` runs its
// routers in the stateDir's supervisor: a SIGKILLed controller leaves them serving their last table,
// and the next `cutover up` attaches to the same router processes, reads etcd, and acks again; a
// SIGHUP restarts the controller in place over them; with no controller back, the grace ends all.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startEtcdCluster } from './etcd-cluster.ts';
import { etcdStoreUrl } from './fleet-helpers.ts';
import { startUpstream, waitFor } from './helpers.ts';
import { cleanup, listening, type Running, type Setup, startUp } from './lifecycle-helpers.ts';
import { alive, descendants, gone, keepAliveLoad, serving, writeStaticServices } from './supervisor-helpers.ts';

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

/** Waits until this controller leads, is attached to its supervisor, and `routers` fleet routers are registered. */
function leading(d: Running, s: Setup, routers = 1): Promise<Seen> {
  return waitFor(
    'the controller to lead, attached to its supervisor, its router registered',
    async () => {
      const r = await d.api('GET', '/api/v1/services/web');
      const st = r.json;
      if (r.status !== 200 || st.supervisor?.controllers !== 1 || st.supervisor.routers === null) return undefined;
      if (st.fleet.routers.length !== routers) return undefined;
      return {
        supervisor: st.supervisor.pid,
        routers: st.supervisor.routers.processes.map((p: { pid: number }) => p.pid),
        serving: st.supervisor.routers.generation,
        acked: ackedBy(st, s.port),
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

/** The generation the fleet router of the controller listening on `port` acks, from a leader's status. */
function ackedBy(status: any, port: number): number | null {
  return status.fleet.routers.find((x: { id: string }) => x.id.endsWith(`/127.0.0.1:${port}`))?.generation ?? null;
}

const text = async (port: number): Promise<string> =>
  (await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(2000) })).text();

test('with etcd and fleet.router on, a SIGKILLed controller leaves its routers serving; `cutover up` again, then a SIGHUP, attach to the same router pids, 0 failed, and switches reach them; SIGTERM stops all', async () => {
  const s = await fleetSetup();
  let d = await startUp(s);
  try {
    await serving(s.port);
    const before = await leading(d, s);
    assert.ok(before.routers.length > 0 && before.routers.every(alive), `the supervisor runs the routers: ${before.routers}`);
    assert.ok(!before.routers.includes(d.child.pid!), 'the routers are not the controller');
    assert.equal(before.acked, before.serving, 'the fleet router acks what the routers serve');
    assert.equal(await text(s.port), 'blue');

    const load = keepAliveLoad(s.port, 10);
    try {
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
      const after = await leading(d, s);
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

      // SIGHUP: the same process restarts in place over the same routers, and leads again.
      process.kill(d.child.pid!, 'SIGHUP');
      await waitFor('the restart in place', () => (d.output().match(/cutover is up/g) ?? []).length === 2 || undefined, 30_000);
      const hup = await leading(d, s);
      assert.equal(d.child.exitCode, null, 'the same controller process runs on (it printed "cutover is up" twice)');
      assert.equal(hup.supervisor, before.supervisor);
      assert.deepEqual(hup.routers, before.routers, 'the same router processes after the SIGHUP');
      assert.equal(hup.serving, before.serving + 1, 'no generation lost or repeated by the SIGHUP');
      const back = await d.api('POST', '/api/v1/services/web/switch', { slot: 'blue' });
      assert.equal(back.status, 200, JSON.stringify(back.json));
      assert.equal(await text(s.port), 'blue', 'the switch after the SIGHUP reached the routers');

      const r = await load.stop();
      assert.deepEqual(
        r.failures.slice(0, 5),
        [],
        `failed requests across the kill, the attach and the SIGHUP (${r.ok} ok, ${r.failures.length} failed)`,
      );
      assert.ok(r.ok > 0);
      process.stdout.write(
        `# etcd + fleet.router, controller SIGKILL + up, then SIGHUP: ${r.ok} ok, 0 failed, longest gap ${r.maxGapMs} ms\n`,
      );

      // A deliberate stop drains and stops the supervisor and its routers, and closes the port.
      await d.stop('SIGTERM');
      assert.equal(d.child.exitCode, 0, d.output());
      await gone([before.supervisor, ...before.routers], 20_000);
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

test('with etcd and fleet.router on and no controller back within supervisor.grace, the routers serve until it ends, then everything stops and the port closes', async () => {
  const s = await fleetSetup('3s');
  const d = await startUp(s);
  try {
    await serving(s.port);
    const p = await leading(d, s);
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

/** The pid of the supervisor of `stateDir` and its router processes, read from /proc (a follower's API shows no status). */
function supervisorOf(stateDir: string): { supervisor: number; routers: number[] } {
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const args = cmd.split('\0');
    if (args.some((a) => a.endsWith('supervisor-main.ts')) && args.includes(stateDir) && alive(Number(entry)))
      return { supervisor: Number(entry), routers: descendants(Number(entry)) };
  }
  throw new Error(`no supervisor runs for ${stateDir}`);
}

test('a follower SIGKILLed while the leader switches: its routers serve their last table, and `cutover up` again applies the newer generation from etcd to the same router pids, 0 failed', async () => {
  const store = etcdStoreUrl(cluster, `/cutover-fleet-router-restart/${randomUUID()}`);
  const sa = await writeStaticServices({ web: { blue: blue.address, green: green.address } }, { store });
  const sb = await writeStaticServices({ web: { blue: blue.address, green: green.address } }, { store });
  const a = await startUp(sa);
  let b: Running | null = null;
  try {
    await leading(a, sa);
    b = await startUp(sb);
    const first = await leading(a, sa, 2);
    await waitFor('the follower to ack', async () => ackedBy((await a.api('GET', '/api/v1/services/web')).json, sb.port) === first.serving);
    assert.equal((await b.api('GET', '/api/v1/services/web')).status, 503, 'b follows');
    const before = supervisorOf(join(sb.dir, 'state'));
    assert.ok(before.routers.length > 0);
    assert.equal(await text(sb.port), 'blue');

    const load = keepAliveLoad(sb.port, 10);
    try {
      await new Promise((r) => setTimeout(r, 300));
      await b.stop('SIGKILL');
      // Once its router's lease is gone the leader's switch waits for the leader's router only.
      await leading(a, sa, 1);
      const sw = await a.api('POST', '/api/v1/services/web/switch', { slot: 'green' });
      assert.equal(sw.status, 200, JSON.stringify(sw.json));
      assert.equal(await text(sa.port), 'green');
      assert.equal(await text(sb.port), 'blue', "with no controller, b's routers serve their last table");

      b = await startUp(sb);
      await waitFor(
        'b to ack the switch',
        async () => ackedBy((await a.api('GET', '/api/v1/services/web')).json, sb.port) === sw.json.generation,
        30_000,
      );
      assert.equal(await text(sb.port), 'green', 'b applied the generation it read from etcd');
      assert.deepEqual(supervisorOf(join(sb.dir, 'state')), before, 'the same supervisor and router processes');
      const r = await load.stop();
      assert.deepEqual(
        r.failures.slice(0, 5),
        [],
        `failed requests on b across its kill and restart (${r.ok} ok, ${r.failures.length} failed)`,
      );
      assert.ok(r.ok > 0);
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  } finally {
    await Promise.all([a.stop(), b?.stop()]);
    cleanup(sa);
    cleanup(sb);
  }
});
