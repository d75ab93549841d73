// The release lifecycle on one machine, end to end: the real daemon, the process provider running the
// demo app, real HTTP. One service goes through its releases in order, as an operator would drive it.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { waitFor } from './helpers.ts';
import {
  cleanup,
  cli,
  deploy,
  listening,
  served,
  startUp,
  steadyLoad,
  waitPhase,
  writeSetup,
  type Running,
  type Setup,
} from './lifecycle-helpers.ts';

describe('the release lifecycle of a process service', () => {
  let s: Setup;
  let d: Running;
  const status = async () => (await d.api('GET', '/api/v1/services/web')).json;

  before(async () => {
    s = await writeSetup({ standby: '4s' });
    d = await startUp(s);
  });
  after(async () => {
    await d?.stop();
    if (s) cleanup(s);
  });

  it('answers 503 "no release yet" before the first release', async () => {
    const r = await served(s.port);
    assert.equal(r.status, 503);
    assert.match(r.text, /no release yet/);
  });

  it('deploys the first release into blue and makes it live (`deploy --wait` exits 0)', async () => {
    const r = cli(s, ['deploy', 'web', 'v1', '--wait']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /provisioning/);
    assert.match(r.stdout, /promoted/);
    assert.deepEqual(await served(s.port).then((x) => [x.version, x.slot]), ['v1', 'blue']);
    const st = await status();
    assert.equal(st.live, 'blue');
    assert.equal(st.slots.green.version, null, 'nothing on standby after a first release');
    assert.equal(st.release.version, 'v1');
    assert.ok(
      st.release.events.some((e: any) => e.type === 'phase' && e.phase === 'verifying'),
      'status carries the release events',
    );
  });

  it('deploys v2 under a steady load with zero failed requests, and keeps v1 on standby', async () => {
    const load = steadyLoad(s.port);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const rel = await deploy(d, 'v2');
      assert.equal(rel.slot, 'green');
      await waitPhase(d, rel.id, ['promoted']);
      await new Promise((r) => setTimeout(r, 300));
      const { ok, versions, failures } = await load.stop();
      assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failed requests of ${ok + failures.length}`);
      assert.ok((versions.get('v1') ?? 0) > 0 && (versions.get('v2') ?? 0) > 0, `both versions served: ${JSON.stringify([...versions])}`);
      assert.equal((await served(s.port)).version, 'v2');
      const st = await status();
      assert.equal(st.live, 'green');
      assert.equal(st.release.phase, 'promoted');
      assert.equal(st.slots.blue.version, 'v1');
      assert.ok(st.slots.blue.targets.length === 2 && st.slots.blue.targets.every((t: any) => t.healthy), 'v1 stands by, healthy');
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  });

  it('rolls back to v1 at once while v1 is on standby', async () => {
    const started = performance.now();
    const r = cli(s, ['rollback', 'web']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const first = await served(s.port);
    assert.equal(first.version, 'v1', 'the first request after the rollback is served by v1');
    assert.ok(performance.now() - started < 5000);
    const st = await status();
    assert.equal(st.live, 'blue');
    assert.equal(st.release.phase, 'rolled-back');
  });

  it('fails a version whose replica crashes while provisioning, quoting its output, with live untouched', async () => {
    const load = steadyLoad(s.port, 4);
    const r = cli(s, ['deploy', 'web', 'broken', '--wait']);
    const { failures, versions } = await load.stop();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /failed/);
    const st = await status();
    assert.equal(st.release.phase, 'failed');
    assert.match(st.release.reason, /cannot read config\/app\.json/, 'the reason has the replica output');
    assert.equal(st.live, 'blue');
    assert.deepEqual(failures, []);
    assert.deepEqual([...versions.keys()], ['v1']);
  });

  it('refuses a second release while one runs (409 naming it), and aborts one stuck in verifying', async () => {
    const rel = await deploy(d, 'v3'); // never passes its health check
    await waitPhase(d, rel.id, ['verifying']);
    const second = await d.api('POST', '/api/v1/services/web/releases', { version: 'v4' });
    assert.equal(second.status, 409);
    assert.match(second.json.error.message, new RegExp(rel.id));
    const green = (await status()).slots.green.targets.map((t: any) => t.address);
    assert.equal(green.length, 2);
    const r = cli(s, ['abort', 'web']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const st = await status();
    assert.equal(st.release.phase, 'aborted');
    assert.equal(st.live, 'blue');
    assert.equal(st.slots.green.version, null);
    for (const a of green) assert.equal(await listening(a), false, `aborted replica at ${a} is stopped`);
    assert.equal((await served(s.port)).version, 'v1');
  });

  it("shows the replicas' output with `cutover logs`, and a replica that dies is restarted on its target", async () => {
    const logs = cli(s, ['logs', 'web', '--slot', 'green', '-n', '50', '-c', s.file]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /cannot read config\/app\.json/, "the broken version's output is in the green log");
    const blue = cli(s, ['logs', 'web', '--slot', 'blue', '-c', s.file]);
    assert.match(blue.stdout, /demo v1 \(blue\) listening/);

    const before = (await status()).slots.blue.targets.map((t: any) => t.address);
    const crash = await fetch(`http://127.0.0.1:${s.port}/crash`);
    assert.equal(crash.status, 500);
    assert.equal((await served(s.port)).version, 'v1', 'the other replica serves meanwhile');
    await waitFor(
      'the crashed replica to be back on its target',
      async () => {
        const st = await status();
        return st.slots.blue.targets.every((t: any) => t.healthy) && (await Promise.all(before.map(listening))).every(Boolean);
      },
      15_000,
    );
    assert.deepEqual(
      (await status()).slots.blue.targets.map((t: any) => t.address),
      before,
      'restarted on the same target',
    );
  });

  it('rejects a version that is not a plain name with a 400', async () => {
    const r = await d.api('POST', '/api/v1/services/web/releases', { version: '../etc' });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /version/);
  });

  it('refuses a deploy while the config file no longer validates, and an unknown service, changing nothing', async () => {
    const before = await status();
    const releases = (await d.api('GET', '/api/v1/services/web/releases')).json.length;
    const good = readFileSync(s.file, 'utf8');
    writeFileSync(s.file, good.replace('interval: 100ms', 'interval: soon'));
    try {
      const r = await d.api('POST', '/api/v1/services/web/releases', { version: 'v9' });
      assert.equal(r.status, 400);
      assert.equal(r.json.error.code, 'CUTOVER_E_CONFIG_INVALID');
      assert.match(r.json.error.message, /services\.web\.health\.interval/);
      assert.match(r.json.error.message, /Nothing was deployed/);
    } finally {
      writeFileSync(s.file, good);
    }
    const unknown = await d.api('POST', '/api/v1/services/shop/releases', { version: 'v9' });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error.code, 'CUTOVER_E_NOT_FOUND');
    assert.equal((await d.api('GET', '/api/v1/services/web/releases')).json.length, releases, 'no release was created');
    const after = await status();
    assert.equal(after.generation, before.generation);
    assert.equal(after.live, before.live);
  });

  it('retires the standby slot when its time is over, and then rolls back by a release of the version before, through its gates', async () => {
    const rel = await deploy(d, 'v2');
    await waitPhase(d, rel.id, ['promoted']);
    const blue = (await status()).slots.blue.targets.map((t: any) => t.address);
    assert.equal(blue.length, 2);
    for (const a of blue) assert.equal(await listening(a), true);
    await waitPhase(d, rel.id, ['retired'], 15_000);
    for (const a of blue) await waitFor(`standby replica ${a} to stop`, async () => !(await listening(a)), 10_000);
    assert.equal((await status()).slots.blue.version, null);
    assert.equal((await served(s.port)).version, 'v2');
    const h = cli(s, ['history', 'web']);
    assert.equal(h.code, 0);
    for (const phase of ['retired', 'aborted', 'failed', 'rolled-back']) assert.match(h.stdout, new RegExp(phase));
    // Nothing stands by any more: the version live before v2 comes back by a release through its gates.
    const back = cli(s, ['rollback', 'web', '--wait']);
    assert.equal(back.code, 0, back.stdout + back.stderr);
    assert.match(back.stdout, /version v1 is not on standby: rolling back by a release of v1 through its gates/);
    assert.equal((await served(s.port)).version, 'v1');
  });
});
