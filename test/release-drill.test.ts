// Rollback drills (`cutover drill`), with the real daemon, real processes and real load: a drill
// releases the live version again, the router makes the new slot's answers fail or wait, the
// service's own analysis rolls it back, and the drill's result is recorded with the release, shown
// by `cutover history` and the API the dashboard reads. How fast is measured by the bench; here the
// result must agree with the time it records.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { CLI } from './helpers.ts';
import http from 'node:http';
import { cleanup, cli, deploy, served, startUp, waitPhase, type Setup } from './lifecycle-helpers.ts';
import { releaseSetup } from './release-helpers.ts';

/** `rate` GETs a second whatever the answers take, as users send them (a closed loop would wait on a slow slot). */
function openLoad(port: number, rate: number): { stop(): void } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 500 });
  const timer = setInterval(() => {
    for (let i = 0; i < rate / 20; i++) {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => res.resume());
      req.setTimeout(5000, () => req.destroy());
      req.on('error', () => {});
    }
  }, 50);
  return {
    stop: () => {
      clearInterval(timer);
      agent.destroy();
    },
  };
}

/** `cutover <args>` without blocking this process (the load runs in it), killed after `timeoutMs`. */
function cliAsync(s: Setup, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, CUTOVER_API: `http://127.0.0.1:${s.apiPort}`, CUTOVER_TOKEN: s.token },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('a drill of errors and one of latency are each rolled back by analysis and recorded with their result in history', async () => {
  const s = await releaseSetup({
    analysis: {
      window: '20s',
      rules: [
        { metric: 'error_rate', max: 0.01 },
        { metric: 'p99', max: '500ms' },
      ],
    },
  });
  const d = await startUp(s);
  let load: { stop(): void } | null = null;
  try {
    const v1 = await deploy(d, 'v1');
    await waitPhase(d, v1.id, ['promoted', 'retired']);
    load = openLoad(s.port, 200);

    for (const flags of [
      ['--errors', '50%'],
      ['--latency', '2s'],
    ]) {
      const r = await cliAsync(s, ['drill', 'web', ...flags, '--wait', '--json'], 90_000);
      const end = JSON.parse(r.stdout);
      assert.equal(end.version, 'v1', 'a drill releases the live version');
      assert.equal(end.phase, 'rolled-back', end.reason);
      assert.match(end.reason, /^analysis failed: /, `${flags.join(' ')}: analysis rolled it back`);
      assert.equal(typeof end.drill.timeToRollbackMs, 'number');
      assert.equal(end.drill.result, end.drill.timeToRollbackMs <= 1000 ? 'passed' : 'failed', end.drill.summary);
      assert.equal(r.code, end.drill.result === 'passed' ? 0 : 1, r.stderr);
      // The faults are gone with the drill: users are back on the live slot, answered as before.
      const state = (await d.api('GET', '/api/v1/services/web')).json;
      assert.equal(state.live, end.fromSlot);
      assert.equal((await served(s.port)).status, 200);
    }
    const list = (await d.api('GET', '/api/v1/services/web/releases')).json as any[];
    const drills = list.filter((x) => x.drill);
    assert.equal(drills.length, 2, 'both drills are in the history the dashboard reads');
    assert.deepEqual(
      drills.map((x) => [x.drill.errors, x.drill.latency]),
      [
        [0, 2000],
        [0.5, 0],
      ],
    );
    const history = cli(s, ['history', 'web']);
    assert.equal(history.code, 0, history.stderr);
    assert.equal(history.stdout.match(/rolled-back \(drill (passed|failed), \d+ ms\)/g)?.length, 2, history.stdout);
  } finally {
    load?.stop();
    await d.stop();
    cleanup(s);
  }
});

test('a drill is refused, changing nothing, without a live version or with a fault out of range', async () => {
  const s = await releaseSetup();
  const d = await startUp(s);
  try {
    const none = cli(s, ['drill', 'web', '--errors', '30%']);
    assert.equal(none.code, 3, none.stdout + none.stderr);
    assert.match(none.stderr, /no live version to drill/);
    const bad = cli(s, ['drill', 'web', '--errors', '130%']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /at most 100%/);
    const body = await d.api('POST', '/api/v1/services/web/drills', { latency: 0 });
    assert.equal(body.status, 400);
    assert.deepEqual((await d.api('GET', '/api/v1/services/web/releases')).json, []);
  } finally {
    await d.stop();
    cleanup(s);
  }
});
