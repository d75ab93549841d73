// `cutover up` with an etcd store and the default `fleet.router: true`: every controller is also a
// router, the follower's included. With `onLaggingRouters: proceed` a switch goes on without a
// router that stalls (SIGSTOP), and that router catches up when it runs again.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import { startEtcdCluster } from './etcd-cluster.ts';
import { etcdStoreUrl, Procs } from './fleet-helpers.ts';
import { freePort, startUpstream, waitFor } from './helpers.ts';

const TOKEN = `fleet-embedded-${randomUUID()}`;
const cluster = await startEtcdCluster();
const dir = mkdtempSync(join(tmpdir(), 'cutover-fleet-embedded-'));
const blue = await startUpstream('blue');
const green = await startUpstream('green');
const procs = new Procs(TOKEN);
after(async () => {
  await procs.killAll();
  await blue.close();
  await green.close();
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Controller {
  child: ChildProcess;
  port: number;
  apiPort: number;
}

async function startController(name: string, prefix: string): Promise<Controller> {
  const port = await freePort();
  const apiPort = await freePort();
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      store: etcdStoreUrl(cluster, prefix),
      api: { listen: `127.0.0.1:${apiPort}` },
      stateDir: join(dir, name),
      fleet: { ackTimeout: '500ms', onLaggingRouters: 'proceed' },
      services: {
        web: {
          listen: `127.0.0.1:${port}`,
          provider: { kind: 'static', blue: [blue.address], green: [green.address] },
          health: { path: '/healthz', interval: '100ms' },
        },
      },
    }),
  );
  const { child } = await procs.launch(name, ['up', '-c', file], /cutover is up/, 30_000);
  return { child, port, apiPort };
}

function api(c: Controller, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  return procs.api(c.apiPort, method, path, body);
}

const served = async (port: number): Promise<string> =>
  (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) })).text();

test('every controller is also a router; a switch with onLaggingRouters: proceed goes on without a stalled one, which catches up when it runs again', async () => {
  const prefix = `/cutover-embedded/${randomUUID()}`;
  const a = await startController('a', prefix);
  const b = await startController('b', prefix);
  await waitFor('both routers to serve blue', async () => (await served(a.port)) === 'blue' && (await served(b.port)) === 'blue', 20_000);
  const leader = (await api(a, 'GET', '/api/v1/services/web')).status === 200 ? a : b;
  const follower = leader === a ? b : a;
  await waitFor(
    'the leader to see both routers',
    async () => (await api(leader, 'GET', '/api/v1/services/web')).json.fleet.routers.length === 2,
  );

  const r = await api(leader, 'POST', '/api/v1/services/web/switch', { slot: 'green' });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(await served(a.port), 'green');
  assert.equal(await served(b.port), 'green');

  follower.child.kill('SIGSTOP');
  try {
    const started = Date.now();
    const again = await api(leader, 'POST', '/api/v1/services/web/switch', { slot: 'blue' });
    assert.equal(again.status, 200, JSON.stringify(again.json));
    assert.ok(Date.now() - started < 2000, 'the switch waited no longer than the ack timeout');
    assert.equal(await served(leader.port), 'blue');
  } finally {
    follower.child.kill('SIGCONT');
  }
  await waitFor('the stalled router to catch up', async () => (await served(follower.port)) === 'blue', 15_000);
  const generation = (await api(leader, 'GET', '/api/v1/services/web')).json.generation;
  await waitFor(
    'the leader to see it serve the generation',
    async () => {
      const routers = (await api(leader, 'GET', '/api/v1/services/web')).json.fleet.routers;
      return routers.length === 2 && routers.every((x: any) => x.generation === generation);
    },
    15_000,
  );
});
