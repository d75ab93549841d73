// `cutover logs` and the CLI's choice of daemon as a user in another folder meets them: pointed at a
// config with -c (or finding ./cutover.yaml), the CLI talks to that config's api.listen with the admin
// token from its stateDir, and `logs` reads the replicas' output through the API, --follow included.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, waitFor } from './helpers.ts';
import { cleanup, deploy, type Running, type Setup, startUp, waitPhase, writeSetup } from './lifecycle-helpers.ts';

/** The CLI with no CUTOVER_API/CUTOVER_TOKEN: only what it finds in its folder and flags. */
function bare(args: string[], cwd: string) {
  const env = { ...process.env };
  delete env.CUTOVER_API;
  delete env.CUTOVER_TOKEN;
  const r = spawnSync(process.execPath, [CLI, ...args], { env, cwd, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, env };
}

describe('a daemon started from its own folder', () => {
  let s: Setup;
  let d: Running;
  let elsewhere: string;
  before(async () => {
    s = await writeSetup();
    d = await startUp(s);
    await waitPhase(d, (await deploy(d, 'v1')).id, ['promoted', 'retired']);
    elsewhere = mkdtempSync(join(tmpdir(), 'cutover-elsewhere-'));
  });
  after(async () => {
    await d?.stop();
    if (s) cleanup(s);
    if (elsewhere) rmSync(elsewhere, { recursive: true, force: true });
  });

  test('status and logs work from another folder with -c, through api.listen and the token in stateDir', () => {
    const status = bare(['status', 'web', '-c', s.file], elsewhere);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^web {2}listen .* live blue/);
    const logs = bare(['logs', 'web', '--slot', 'blue', '-n', '20', '-c', s.file], elsewhere);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /demo v1 \(blue\) listening/);
  });

  test('without -c the CLI uses ./cutover.yaml of the folder it runs in', () => {
    const here = mkdtempSync(join(tmpdir(), 'cutover-here-'));
    try {
      // A config of its own naming the same API and state, as an app folder's cutover.yaml would.
      writeFileSync(
        join(here, 'cutover.yaml'),
        `api: { listen: "127.0.0.1:${s.apiPort}" }\nstateDir: ${join(s.dir, 'state')}\nservices: {}\n`,
      );
      const logs = bare(['logs', 'web'], here);
      assert.equal(logs.code, 0, logs.stderr);
      assert.match(logs.stdout, /^blue .*demo v1 \(blue\) listening/m, 'both slots, each line named by its slot');
    } finally {
      rmSync(here, { recursive: true, force: true });
    }
  });

  test('a wrong token says where it came from; an unknown service is refused by the API (exit 3)', () => {
    const wrong = mkdtempSync(join(tmpdir(), 'cutover-wrong-'));
    try {
      writeFileSync(join(wrong, 'cutover.yaml'), `api: { listen: "127.0.0.1:${s.apiPort}" }\nstateDir: state\nservices: {}\n`);
      const r = bare(['status'], wrong);
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /CUTOVER_E_UNAUTHORIZED/);
      assert.match(r.stderr, new RegExp(`token: none \\(no CUTOVER_TOKEN, no ${join(wrong, 'state', 'admin.token')}\\)`));
      assert.match(r.stderr, new RegExp(`http://127\\.0\\.0\\.1:${s.apiPort}/api/v1/services`));
    } finally {
      rmSync(wrong, { recursive: true, force: true });
    }
    const missing = bare(['logs', 'nope', '-c', s.file], elsewhere);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /CUTOVER_E_NOT_FOUND/);
  });

  test("logs --follow prints the new release's lines as its replicas write them", async () => {
    const env = { ...process.env };
    delete env.CUTOVER_API;
    delete env.CUTOVER_TOKEN;
    const child = spawn(process.execPath, [CLI, 'logs', 'web', '--follow', '-n', '5', '-c', s.file], {
      cwd: elsewhere,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor('the first lines', () => /demo v1/.test(out), 20_000);
      await waitPhase(d, (await deploy(d, 'v2')).id, ['promoted']);
      await waitFor('the green replicas of v2 in the followed log', () => /green .*demo v2 \(green\) listening/.test(out), 20_000);
      assert.equal((out.match(/demo v2 \(green\) listening/g) ?? []).length, 2, `each of the 2 replicas' line once:\n${out}`);
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0);
  });
});
