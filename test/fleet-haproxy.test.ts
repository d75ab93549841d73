// A fleet whose users come through HAProxy: two `cutover up` controllers on an etcd store drive one
// HAProxy. Only the leader applies (the follower refuses a switch and names the leader); a release
// through the leader switches HAProxy under a keep-alive load with no failed request, judged on
// HAProxy's counters; and after the leader dies, the next leader drives HAProxy.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import { keepAliveLoad, startHaproxy } from './balancers.ts';
import { startEtcdCluster } from './etcd-cluster.ts';
import { etcdStoreUrl, Procs } from './fleet-helpers.ts';
import { freePort, startUpstream, waitFor } from './helpers.ts';

const TOKEN = `fleet-haproxy-${randomUUID()}`;
const cluster = await startEtcdCluster(1);
const dir = mkdtempSync(join(tmpdir(), 'cutover-fleet-haproxy-'));
const haproxy = await startHaproxy(dir);
const blue = await startUpstream('blue');
const green = await startUpstream('green');
const procs = new Procs(TOKEN);
after(async () => {
  await procs.killAll();
  await haproxy.stop();
  await blue.close();
  await green.close();
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Controller {
  name: string;
  child: ChildProcess;
  apiPort: number;
}

async function startController(name: string, prefix: string): Promise<Controller> {
  const apiPort = await freePort();
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      store: etcdStoreUrl(cluster, prefix),
      api: { listen: `127.0.0.1:${apiPort}` },
      stateDir: join(dir, name),
      // The SIGKILLed leader's supervisor (its routers outlive it) stops soon after the test.
      supervisor: { grace: '5s' },
      fleet: { ackTimeout: '1s', onLaggingRouters: 'proceed' },
      services: {
        web: {
          listen: `127.0.0.1:${await freePort()}`,
          provider: { kind: 'static', blue: [blue.address], green: [green.address] },
          health: { path: '/healthz', interval: '100ms' },
          traffic: { kind: 'haproxy', socket: haproxy.socket, backend: haproxy.backend },
          analysis: { interval: '200ms', window: '1s', minSamples: 10, inconclusive: 'hold', watchStandby: false },
          standby: '5m',
        },
      },
    }),
  );
  const { child } = await procs.launch(name, ['up', '-c', file], /cutover is up/);
  return { name, child, apiPort };
}

function api(c: Controller, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  return procs.api(c.apiPort, method, path, body);
}

const via = async (): Promise<string | null> =>
  (await fetch(`http://127.0.0.1:${haproxy.port}/`, { signal: AbortSignal.timeout(2000) })).headers.get('x-slot');

async function leaderOf(cs: Controller[]): Promise<Controller> {
  return waitFor(
    'a leader',
    async () => {
      for (const c of cs) if ((await api(c, 'GET', '/api/v1/services/web').catch(() => null))?.status === 200) return c;
      return undefined;
    },
    30_000,
  );
}

test('two controllers on etcd drive one HAProxy: only the leader applies, a release switches HAProxy with no failed request, and the next leader takes over', async () => {
  const prefix = `/cutover-fleet-haproxy/${randomUUID()}`;
  const a = await startController('a', prefix);
  const b = await startController('b', prefix);
  await waitFor('HAProxy serving blue', async () => (await via()) === 'blue', 20_000);
  const leader = await leaderOf([a, b]);
  const follower = leader === a ? b : a;

  const refused = await api(follower, 'POST', '/api/v1/services/web/switch', { slot: 'green' });
  assert.equal(refused.status, 503, JSON.stringify(refused.json));
  assert.equal(await via(), 'blue', "the follower's refused switch did not reach HAProxy");

  const load = keepAliveLoad(haproxy.port, 6);
  let total: Awaited<ReturnType<typeof load.stop>> | undefined;
  try {
    await waitFor('load through HAProxy', () => load.now().ok > 100);
    const r = await api(leader, 'POST', '/api/v1/services/web/releases', { version: 'v2' });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    const done = await waitFor(
      'the release to end',
      async () => {
        const rel = (await api(leader, 'GET', `/api/v1/services/web/releases/${r.json.id}`)).json;
        return ['promoted', 'failed', 'aborted', 'rolled-back'].includes(rel.phase) ? rel : undefined;
      },
      30_000,
    );
    assert.equal(done.phase, 'promoted', done.reason);
    assert.equal(
      done.analysis.find((x: any) => x.label === 'observing')?.state,
      'pass',
      'judged on HAProxy’s counters, not on no evidence',
    );
    await waitFor('HAProxy serving green', async () => (await via()) === 'green', 5000);
    const before = load.now().ok;
    await waitFor('requests on green', () => load.now().ok > before + 100);
  } finally {
    total = await load.stop();
  }
  assert.equal(total.failed, 0, total.errors.join(', '));
  assert.ok((total.bySlot.green ?? 0) > 100, JSON.stringify(total.bySlot));

  leader.child.kill('SIGKILL');
  const next = await leaderOf([follower]);
  const status = (await api(next, 'GET', '/api/v1/services/web')).json;
  assert.equal(status.live, 'green');
  const back = await api(next, 'POST', '/api/v1/services/web/rollback', { reason: 'test' });
  assert.ok(back.status < 300, JSON.stringify(back.json));
  await waitFor('HAProxy serving blue through the new leader', async () => (await via()) === 'blue', 10_000);
});
