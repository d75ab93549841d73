// The CLI's conventions as an operator meets them: every command answers --help, --version works, a
// mistyped flag gets "did you mean", exit codes tell usage (2) from a refusal by the API (3) from no
// daemon at all (4) and from a release that ended badly (1), --json errors are JSON on stdout, and
// Ctrl-C on `deploy --wait` says the release goes on.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { main } from '../src/cli/main.ts';
import { CLI, freePort, waitFor } from './helpers.ts';
import { cleanup, type Running, type Setup, startUp, waitPhase, writeSetup } from './lifecycle-helpers.ts';

const COMMANDS = [
  'up',
  'router',
  'validate',
  'switch',
  'status',
  'deploy',
  'promote',
  'rollback',
  'abort',
  'history',
  'logs',
  'migrations',
  'demo',
  'token',
  'restart',
  'down',
];

function cutover(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, CUTOVER_API: '', CUTOVER_TOKEN: '', ...env },
    cwd: '/',
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `cutover ARGS` in this process (spawning 28 CLIs costs half a minute on a loaded machine). */
async function inProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const stream = (add: (s: string) => void) =>
    ({
      write: (s: string) => {
        add(s);
        return true;
      },
      isTTY: false,
    }) as unknown as NodeJS.WriteStream;
  const code = await main(args, { stdout: stream((t) => (stdout += t)), stderr: stream((t) => (stderr += t)) });
  return { code, stdout, stderr };
}

test('every command answers --help and -h with its usage and options, and exits 0', async () => {
  for (const name of COMMANDS) {
    for (const flag of ['--help', '-h']) {
      const r = await inProcess([name, flag]);
      assert.equal(r.code, 0, `${name} ${flag}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^usage: cutover ${name}`), `${name} ${flag}`);
      assert.match(r.stdout, /-h, --help/, `${name} ${flag} lists its options`);
    }
  }
  const spawned = cutover(['switch', '--help']);
  assert.equal(spawned.code, 0);
  assert.match(spawned.stdout, /--force +switch even when no target of the slot is healthy/);
  assert.match((await inProcess(['deploy', '--help'])).stdout, /--wait .*\n.*--json/s);
});

test('cutover --version prints the package version', () => {
  const r = cutover(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^cutover \d+\.\d+\.\d+ \(node v\d+/);
});

test('a mistyped flag or command is a usage error (exit 2) that suggests the right one', () => {
  const flag = cutover(['deploy', 'web', 'v2', '--wiat']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /unknown flag --wiat .*did you mean --wait\?/);
  const up = cutover(['up', '--confg', 'x.yaml']);
  assert.equal(up.code, 2);
  assert.match(up.stderr, /did you mean --config\?/);
  const command = cutover(['staus']);
  assert.equal(command.code, 2);
  assert.match(command.stderr, /did you mean `cutover status`\?/);
  const missing = cutover(['deploy', 'web']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /usage: cutover deploy <service> <version>/);
});

test('no daemon is exit 4 naming the API URL and where it came from; with --json the error is JSON on stdout', async () => {
  const port = await freePort();
  const r = cutover(['status', '--json'], { CUTOVER_API: `http://127.0.0.1:${port}` });
  assert.equal(r.code, 4);
  assert.equal(r.stderr, '');
  const e = JSON.parse(r.stdout) as { error: { code: string; message: string } };
  assert.equal(e.error.code, 'CUTOVER_E_API_UNREACHABLE');
  assert.match(e.error.message, new RegExp(`http://127\\.0\\.0\\.1:${port} \\(from CUTOVER_API\\)`));
  const plain = cutover(['status'], { CUTOVER_API: `http://127.0.0.1:${port}` });
  assert.equal(plain.code, 4);
  assert.match(plain.stderr, /^cutover: CUTOVER_E_API_UNREACHABLE: cannot reach the cutover API/);
});

describe('against a running daemon', () => {
  let s: Setup;
  let d: Running;
  before(async () => {
    s = await writeSetup({ approval: 'manual' });
    d = await startUp(s);
  });
  after(async () => {
    await d?.stop();
    if (s) cleanup(s);
  });
  const env = () => ({ CUTOVER_API: `http://127.0.0.1:${s.apiPort}`, CUTOVER_TOKEN: s.token });

  test('the API refusing is exit 3: an unknown service, a bad token (naming where it came from), a conflict', () => {
    const missing = cutover(['status', 'nope'], env());
    assert.equal(missing.code, 3, missing.stderr);
    assert.match(missing.stderr, /CUTOVER_E_NOT_FOUND/);
    const auth = cutover(['status', '--json'], { ...env(), CUTOVER_TOKEN: 'wrong' });
    assert.equal(auth.code, 3);
    const e = JSON.parse(auth.stdout) as { error: { code: string; message: string } };
    assert.equal(e.error.code, 'CUTOVER_E_UNAUTHORIZED');
    assert.match(e.error.message, /token: CUTOVER_TOKEN/);
    assert.match(e.error.message, new RegExp(`GET http://127\\.0\\.0\\.1:${s.apiPort}/api/v1/services`));
    const conflict = cutover(['rollback', 'web'], env());
    assert.equal(conflict.code, 3, conflict.stderr);
    assert.match(conflict.stderr, /CUTOVER_E_CONFLICT/);
  });

  test('Ctrl-C on deploy --wait stops following only: it says the release goes on and how to follow it', async () => {
    const child = spawn(process.execPath, [CLI, 'deploy', 'web', 'v1', '--wait'], {
      env: { ...process.env, ...env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (err += b));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor('the release to await approval', () => /awaiting-approval/.test(out), 30_000);
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    const id = /release (r-\S+|\S+) of version v1/.exec(out)?.[1];
    assert.ok(id, out);
    assert.match(err, new RegExp(`stopped following; release ${id} goes on`));
    assert.match(err, /cutover status web/);
    const release = await waitPhase(d, id, ['awaiting-approval']);
    assert.equal(release.phase, 'awaiting-approval', 'the release is still there, waiting');
  });
});
