// Grouped releases (`groups: { shop: [web, api, worker] }`, `cutover deploy --group shop VERSION`), with
// the real daemon and real processes: the three services are released together, switched together
// (one store transaction), and when one member's analysis fails under load, all three go back to the
// version they ran.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { freePort, ROOT, waitFor } from './helpers.ts';
import { cleanup, cli, startUp, type Setup } from './lifecycle-helpers.ts';

const APP = join(ROOT, 'test/fixtures/group-app.js');
const MEMBERS = ['web', 'api', 'worker'] as const;

/** A file with the three services of group shop; `api` answers 500 when it runs `failing`. */
async function groupSetup(failing: string): Promise<Setup & { ports: Record<string, number> }> {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-group-'));
  const apiPort = await freePort();
  const ports: Record<string, number> = {};
  for (const m of MEMBERS) ports[m] = await freePort();
  const token = `test-token-${Math.random().toString(36).slice(2)}`;
  const service = (m: string) => ({
    listen: `127.0.0.1:${ports[m]}`,
    drain: '1s',
    provider: {
      kind: 'process',
      command: [process.execPath, APP, '{version}'],
      replicas: 1,
      stopGrace: '1s',
      ...(m === 'api' ? { env: { FAIL_VERSION: failing } } : {}),
    },
    health: { path: '/healthz', interval: '100ms' },
    // The default timing; a window long enough that the members without traffic are still observing.
    analysis: { window: '20s', inconclusive: 'pass', rules: [{ metric: 'error_rate', max: 0.01 }] },
    standby: '10m',
  });
  const file = join(dir, 'cutover.yaml');
  writeFileSync(
    file,
    stringify({
      api: { listen: `127.0.0.1:${apiPort}` },
      stateDir: join(dir, 'state'),
      groups: { shop: [...MEMBERS] },
      services: Object.fromEntries(MEMBERS.map((m) => [m, service(m)])),
    }),
  );
  return { dir, file, port: ports.web!, apiPort, token, ports };
}

function versionAt(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(`${res.statusCode} ${(JSON.parse(body) as { version: string }).version}`));
      })
      .on('error', reject);
  });
}

test('a grouped release of three services switches them together and rolls all three back when one fails', async () => {
  const s = await groupSetup('v2');
  const d = await startUp(s);
  let load: NodeJS.Timeout | undefined;
  try {
    const first = cli(s, ['deploy', '--group', 'shop', 'v1', '--wait', '--json'], 90_000);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const ok = JSON.parse(first.stdout);
    // A first release has nothing on standby: promoted, then retired at once.
    for (const r of ok.releases) assert.ok(['promoted', 'retired'].includes(r.phase), `${r.service}: ${r.phase} ${r.reason}`);
    assert.deepEqual(ok.releases.map((r: any) => r.service).sort(), ['api', 'web', 'worker']);
    for (const m of MEMBERS) assert.equal(await versionAt(s.ports[m]!), '200 v1');

    // Users' traffic on api only: its analysis sees v2's 500s; web and worker have nothing wrong.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
    load = setInterval(() => {
      for (let i = 0; i < 10; i++)
        http.get({ host: '127.0.0.1', port: s.ports.api, path: '/', agent }, (res) => res.resume()).on('error', () => {});
    }, 50);
    const started = (await d.api('POST', '/api/v1/groups/shop/releases', { version: 'v2' })).json;
    assert.equal(started.releases.length, 3, JSON.stringify(started));
    const ends = await waitFor(
      'every member of the group to end',
      async () => {
        const rs = await Promise.all(
          started.releases.map(async (r: any) => (await d.api('GET', `/api/v1/services/${r.service}/releases/${r.id}`)).json),
        );
        return rs.every((r) => r.phase === 'rolled-back' || r.phase === 'failed' || r.phase === 'aborted') ? rs : undefined;
      },
      60_000,
    );
    const byService = Object.fromEntries(started.releases.map((r: any, i: number) => [r.service, ends[i]]));
    assert.equal(byService.api.phase, 'rolled-back');
    assert.match(byService.api.reason, /^analysis failed: .*error_rate/);
    for (const m of ['web', 'worker']) {
      assert.equal(byService[m].phase, 'rolled-back', byService[m].reason);
      assert.match(byService[m].reason, /group shop .* goes back together: api rolled-back/);
    }
    // They were switched together, once every member was ready.
    const switches = ends.map((r: any) => r.events.find((e: any) => e.type === 'switch' && e.data?.to === r.slot));
    for (const sw of switches) assert.match(sw.reason, /^group shop .*: all traffic of web, api, worker to version v2, together/);
    // In one store transaction: the three switch events follow each other with nothing between.
    const seqs = switches.map((e: any) => e.seq as number).sort((x: number, y: number) => x - y);
    assert.equal(seqs[2]! - seqs[0]!, 2, `switch events ${seqs.join(', ')}`);
    clearInterval(load);
    agent.destroy();
    for (const m of MEMBERS) assert.equal(await versionAt(s.ports[m]!), '200 v1', `${m} is back on v1`);

    const history = cli(s, ['history', 'web']);
    assert.match(history.stdout, /v2 \[group shop\]/);
    const status = cli(s, ['status', 'worker']);
    assert.match(status.stdout, /group shop \(grp_[0-9a-f]+\): web, api, worker/);
  } finally {
    clearInterval(load);
    await d.stop();
    cleanup(s);
  }
});

test('cutover validate refuses a group naming a service that does not exist', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-group-'));
  const file = join(dir, 'cutover.yaml');
  writeFileSync(
    file,
    stringify({
      groups: { shop: ['web', 'api'] },
      services: { web: { listen: '127.0.0.1:18080', provider: { command: ['node', 'app.js'] } } },
    }),
  );
  const r = cli({ dir, file, port: 0, apiPort: 0, token: '' }, ['validate', '-c', file]);
  assert.equal(r.code, 2);
  assert.match(r.stdout + r.stderr, /groups\.shop\[1\]: "api" is not a service of this file/);
  cleanup({ dir, file, port: 0, apiPort: 0, token: '' });
});
