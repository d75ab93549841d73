// Environment parity against the real daemon: `cutover parity`, GET /api/v1/services/:name/parity and
// status say what differs between the slots besides the version (variable names, never values); it
// is on record before every switch; with parity.strict a drift fails the release before traffic
// moves and refuses `cutover switch` (CUTOVER_E_PARITY_DRIFT) unless --force.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { CLI, type Daemon, startDaemon, startUpstream, type Upstream, waitFor } from './helpers.ts';
import { cleanup, cli, DEMO_APP, deploy, type Running, type Setup, startUp, waitPhase, writeSetup } from './lifecycle-helpers.ts';

const SECRET = 'sekret-value-that-never-leaves-the-daemon';

function cliOf(d: Daemon, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, CUTOVER_API: `http://127.0.0.1:${d.apiPort}`, CUTOVER_TOKEN: d.token },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('two process slots provisioned from one config', () => {
  let s: Setup;
  let d: Running;
  before(async () => {
    s = await writeSetup({
      provider: {
        kind: 'process',
        command: [process.execPath, DEMO_APP, '{version}'],
        replicas: 2,
        stopGrace: '2s',
        env: { API_KEY: SECRET },
      },
    });
    d = await startUp(s);
  });
  after(async () => {
    await d?.stop();
    if (s) cleanup(s);
  });

  test('differ only in version, say so everywhere, and show variable names but never their values', async () => {
    await waitPhase(d, (await deploy(d, 'v1')).id, ['promoted', 'retired']);
    const none = await d.api('GET', '/api/v1/services/web/parity');
    assert.equal(none.status, 200);
    assert.equal(none.json.compared, false);
    assert.match(none.json.note, /green runs nothing/);

    const v2 = await waitPhase(d, (await deploy(d, 'v2')).id, ['promoted']);
    const check = v2.events.find((e: { data: { kind?: string } }) => e.data.kind === 'parity');
    assert.ok(check, 'parity is on record before the switch');
    assert.equal(check.reason, 'parity, switching to green: blue and green differ only in their version');
    const firstSwitch = v2.events.findIndex((e: { type: string; data: { to?: string } }) => e.type === 'switch' && e.data.to === 'green');
    assert.ok(v2.events.indexOf(check) < firstSwitch, 'recorded before traffic moved');

    const r = await d.api('GET', '/api/v1/services/web/parity');
    assert.equal(r.json.compared, true);
    assert.deepEqual(r.json.differences, []);
    for (const slot of ['blue', 'green']) {
      const spec = r.json.slots[slot].spec;
      assert.equal(spec.replicas, 2);
      assert.ok(spec.envNames.includes('API_KEY') && spec.view.envNames.includes('API_KEY'), JSON.stringify(spec));
      assert.match(spec.view.detail, /^2 of 2 replica\(s\) running/);
    }
    assert.equal(r.json.slots.blue.spec.configHash, r.json.slots.green.spec.configHash);
    const shown = cli(s, ['parity', 'web']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(
      shown.stdout,
      /blue {2}v1 {2}command .*demo\/app\.js","\{version\}"\] {2}replicas 2 {2}config [0-9a-f]{12} {2}env API_KEY CUTOVER_SERVICE/,
    );
    assert.match(shown.stdout, /blue and green differ only in their version/);
    const status = cli(s, ['status', 'web']);
    assert.match(status.stdout, /^ {2}parity {3}blue and green differ only in their version$/m);
    const everything =
      JSON.stringify([r.json, (await d.api('GET', '/api/v1/services/web')).json, v2.events]) + shown.stdout + status.stdout;
    assert.ok(!everything.includes(SECRET), 'a variable value never leaves the daemon');
  });
});

describe('a static service whose slots have different numbers of addresses, with parity.strict', () => {
  let d: Daemon;
  const ups: Upstream[] = [];
  before(async () => {
    for (const slot of ['blue', 'blue', 'green']) ups.push(await startUpstream(slot));
    d = await startDaemon([ups[0]!.address, ups[1]!.address], [ups[2]!.address], {
      service: { parity: { strict: true }, analysis: { interval: '200ms', window: '400ms', inconclusive: 'pass' } },
    });
  });
  after(async () => {
    await d?.stop();
    for (const u of ups) await u.close();
  });

  test('status and cutover parity name the drift, and exit 1', async () => {
    const shown = cliOf(d, ['parity', 'web']);
    assert.equal(shown.code, 1, shown.stderr);
    assert.match(shown.stdout, /DRIFT: blue and green differ besides their version:\n {4}replicas: blue 2, green 1/);
    assert.match(shown.stdout, /parity\.strict: a drift refuses a switch/);
    const status = cliOf(d, ['status', 'web']);
    assert.match(
      status.stdout,
      /parity {3}DRIFT: .*\(parity\.strict: a switch is refused\) \(cutover parity web\):\n {4}replicas: blue 2, green 1/,
    );
  });

  test('a release fails before traffic moves, and cutover switch is refused unless --force', async () => {
    const r = await d.api('POST', '/api/v1/services/web/releases', { version: 'v2' });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    const ended = await waitFor(
      'the release to end',
      async () => {
        const x = (await d.api('GET', `/api/v1/services/web/releases/${r.json.id}`)).json;
        return ['failed', 'promoted', 'rolled-back'].includes(x.phase) ? x : undefined;
      },
      30_000,
    );
    assert.equal(ended.phase, 'failed', ended.reason);
    assert.match(ended.reason, /not switching to green: blue and green differ besides their version: replicas: blue 2, green 1/);
    const svc = (await d.api('GET', '/api/v1/services/web')).json;
    assert.equal(svc.live, 'blue');
    assert.equal(svc.weights.blue, 100);
    assert.ok(!ended.events.some((e: { type: string; data: { to?: string } }) => e.type === 'switch' && e.data.to === 'green'));

    const refused = cliOf(d, ['switch', 'web', 'green', '--json']);
    assert.equal(refused.code, 3, refused.stdout + refused.stderr);
    assert.equal(JSON.parse(refused.stdout).error.code, 'CUTOVER_E_PARITY_DRIFT');
    assert.equal((await d.api('GET', '/api/v1/services/web')).json.live, 'blue');
    const forced = cliOf(d, ['switch', 'web', 'green', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal((await d.api('GET', '/api/v1/services/web')).json.live, 'green');
  });
});
