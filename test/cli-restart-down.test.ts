// `cutover restart` and `cutover down` as an operator runs them: a restart through the API under
// keep-alive load loses nothing and keeps the same replicas; a restart with an invalid config on disk
// exits 2 and changes nothing; `down` drains and stops everything (counted), closes the port, exits 0.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { CLI } from './helpers.ts';
import { cleanup, deploy, listening, type Setup, startUp, waitPhase, writeSetup } from './lifecycle-helpers.ts';
import { answeringPids, descendants, gone, keepAliveLoad, processes } from './supervisor-helpers.ts';

/** `cutover ARGS` in a child, without blocking this process (its load clients keep running). */
function cutover(s: Setup, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, CUTOVER_API: `http://127.0.0.1:${s.apiPort}`, CUTOVER_TOKEN: s.token },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('`cutover restart` under load: 0 failed, same pid and replicas; an invalid config exits 2 and changes nothing; `cutover down` leaves nothing', async () => {
  const s = await writeSetup();
  const d = await startUp(s);
  let load: ReturnType<typeof keepAliveLoad> | null = null;
  try {
    await waitPhase(d, (await deploy(d, 'v1')).id, ['promoted', 'retired']);
    const replicas = await answeringPids(s.port);
    assert.equal(replicas.length, 2);
    load = keepAliveLoad(s.port, 10, '/version');
    const r = await cutover(s, ['restart']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`cutover restarted in place \\(pid ${d.child.pid}, \\d+ ms\\)`));
    assert.ok(d.output().includes('"msg":"replicas adopted"'), 'the restarted controller adopted the replicas');
    const res = await load.stop();
    load = null;
    assert.deepEqual(res.failures.slice(0, 5), [], `failed across \`cutover restart\` (${res.ok} ok, ${res.failures.length} failed)`);
    assert.ok(res.ok > 0);
    assert.deepEqual(await answeringPids(s.port), replicas, 'the same replicas answer');
    assert.equal(d.child.exitCode, null, 'the same process runs');

    const valid = readFileSync(s.file, 'utf8');
    writeFileSync(s.file, valid.replace(/replicas: 2/, 'replicas: many'));
    const bad = await cutover(s, ['restart']);
    assert.equal(bad.code, 2, `${bad.stdout}${bad.stderr}`);
    assert.match(bad.stderr, /CUTOVER_E_CONFIG_INVALID.*replicas/);
    assert.match(bad.stderr, /Nothing changed/);
    writeFileSync(s.file, valid);
    assert.equal((await d.api('GET', '/api/v1/services/web')).status, 200, 'the controller still answers');

    const sup = (await processes(d)).supervisor;
    const everything = [sup, ...descendants(sup)];
    assert.ok(everything.length >= 5, `supervisor, router, watchdog and two replicas: ${everything.join(', ')}`);
    const exited = new Promise<number | null>((resolve) => d.child.once('exit', (code) => resolve(code)));
    const down = await cutover(s, ['down']);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /cutover stopped .* routers drained, replicas stopped, listeners closed/);
    assert.equal(await exited, 0, '`cutover up` exited 0');
    await gone(everything, 20_000);
    assert.equal(await listening(`127.0.0.1:${s.port}`), false, 'the port is closed');
    assert.equal((await cutover(s, ['down'])).code, 4, 'nothing left to stop: the API is unreachable');
  } finally {
    await load?.stop();
    await d.stop('SIGKILL');
    cleanup(s);
  }
});
