// A grouped release in a fleet (`cutover up` on a real 3-member etcd cluster): the members' switches
// are one etcd transaction, so every router sees the three services move at one etcd revision,
// never one service on the new version and another still on the old one.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { stringify } from 'yaml';
import { startEtcdCluster } from './etcd-cluster.ts';
import { freePort, ROOT, waitFor } from './helpers.ts';
import { cleanup, cli, served, startUp, type Setup } from './lifecycle-helpers.ts';

const APP = join(ROOT, 'test/fixtures/group-app.js');
const MEMBERS = ['web', 'api', 'worker'] as const;

const cluster = await startEtcdCluster();
const client = new Etcd3({ hosts: cluster.endpoints });
after(async () => {
  client.close();
  await cluster.close();
});

async function fleetGroupSetup(prefix: string): Promise<Setup & { ports: Record<string, number> }> {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-fleet-group-'));
  const apiPort = await freePort();
  const ports: Record<string, number> = {};
  for (const m of MEMBERS) ports[m] = await freePort();
  const token = `test-token-${randomUUID()}`;
  const service = (m: string) => ({
    listen: `127.0.0.1:${ports[m]}`,
    drain: '1s',
    provider: { kind: 'process', command: [process.execPath, APP, '{version}'], replicas: 1, stopGrace: '1s' },
    health: { path: '/healthz', interval: '100ms' },
    // No traffic to judge: a short analysis lets each release go on.
    analysis: { interval: '500ms', window: '1s', inconclusive: 'pass' },
    standby: '10m',
  });
  const file = join(dir, 'cutover.yaml');
  writeFileSync(
    file,
    stringify({
      store: `etcd://${cluster.endpoints.map((e) => e.replace('http://', '')).join(',')}${prefix}`,
      api: { listen: `127.0.0.1:${apiPort}` },
      stateDir: join(dir, 'state'),
      groups: { shop: [...MEMBERS] },
      services: Object.fromEntries(MEMBERS.map((m) => [m, service(m)])),
    }),
  );
  return { dir, file, port: ports.web!, apiPort, token, ports };
}

test('a grouped release in a fleet switches its three services in one etcd transaction: their route states change at one revision', async () => {
  const prefix = `/cutover-fleet-group/${randomUUID()}`;
  const s = await fleetGroupSetup(prefix);
  const d = await startUp(s);
  try {
    // The API answers before the election is won; the leader's services answer 503 until they have started.
    await waitFor('the leader to start its services', async () => (await d.api('GET', '/api/v1/services/web')).status === 200, 30_000);
    const first = cli(s, ['deploy', '--group', 'shop', 'v1', '--wait', '--json'], 90_000);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    for (const m of MEMBERS) assert.equal((await served(s.ports[m]!)).version, 'v1', m);
    const generations = async () =>
      Object.fromEntries(await Promise.all(MEMBERS.map(async (m) => [m, (await d.api('GET', `/api/v1/services/${m}`)).json.generation])));
    const before = await generations();

    const second = cli(s, ['deploy', '--group', 'shop', 'v2', '--wait', '--json'], 90_000);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    const releases = JSON.parse(second.stdout).releases as { service: string; id: string; phase: string; reason: string }[];
    for (const r of releases) assert.equal(r.phase, 'promoted', `${r.service}: ${r.phase} ${r.reason}`);
    for (const m of MEMBERS) assert.equal((await served(s.ports[m]!)).version, 'v2', m);

    // The switch events of the three releases follow each other with nothing between.
    const switches = await Promise.all(
      releases.map(async (r) => {
        const events = (await d.api('GET', `/api/v1/services/${r.service}/releases/${r.id}`)).json.events as any[];
        const sw = events.find((e) => e.type === 'switch' && /together/.test(e.reason));
        assert.ok(sw !== undefined, `${r.service} has a grouped switch event: ${JSON.stringify(events)}`);
        return sw.seq as number;
      }),
    );
    switches.sort((x, y) => x - y);
    assert.equal(switches[2]! - switches[0]!, 2, `switch events ${switches.join(', ')}`);

    // In etcd: the three route states (and their generations) were last written by one transaction,
    // and each member's generation moved on from the one before this release.
    const routes = await client.getAll().prefix(`${prefix}/routes/`).exec();
    const gens = await client.getAll().prefix(`${prefix}/route-generations/`).exec();
    assert.equal(routes.kvs.length, 3);
    assert.equal(gens.kvs.length, 3);
    const revisions = new Set([...routes.kvs, ...gens.kvs].map((kv) => kv.mod_revision));
    assert.equal(revisions.size, 1, `route keys written at revisions ${[...revisions].join(', ')}`);
    const after = await generations();
    for (const m of MEMBERS) {
      const state = routes.kvs.find((kv) => kv.key.toString().endsWith(`/routes/${m}`));
      assert.ok(state !== undefined, m);
      const parsed = JSON.parse(state.value.toString()) as { generation: number; live: string };
      assert.equal(parsed.generation, after[m], m);
      assert.ok(after[m] > before[m], `${m}: generation ${before[m]} -> ${after[m]}`);
    }
  } finally {
    await d.stop();
    cleanup(s);
  }
});
