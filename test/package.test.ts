// The package as a user gets it: `npm pack`, `npm install <tarball>` into an empty folder, and
// `npx cutover` there with the machine's own (older) Node first on PATH. It ships no test files,
// installs without engine warnings, brings its own Node 24, and runs a daemon and a release from the
// user's folder (the CLI finding ./cutover.yaml's api.listen and the admin token in its stateDir).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, ROOT, GiveUp, waitFor } from './helpers.ts';

// The machine's Node (Debian's, older than 24) first on PATH, as a user's shell has it.
const SYSTEM_NODE_DIR = '/usr/bin';
const PATH = `${SYSTEM_NODE_DIR}:${(process.env.PATH ?? '')
  .split(':')
  .filter((p) => !p.includes('node_modules'))
  .join(':')}`;
const systemNode = spawnSync(join(SYSTEM_NODE_DIR, 'node'), ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? '';
const older = /^v(\d+)/.exec(systemNode) !== null && Number(/^v(\d+)/.exec(systemNode)![1]) < 24;

function run(cmd: string, args: string[], cwd: string, timeout = 120_000) {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH, NO_UPDATE_NOTIFIER: '1' };
  for (const k of Object.keys(env)) if (k.startsWith('npm_') || k === 'NODE_OPTIONS' || k.startsWith('CUTOVER_')) delete env[k];
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', env };
}

describe(`the packed package installed into an empty folder, run with ${systemNode || 'no'} Node on PATH`, {
  skip: !older && 'this machine has no Node older than 24 in /usr/bin to run it with',
}, () => {
  let dir: string;
  let app: string;
  let tarball: string;
  let installLog = '';
  let up: ChildProcess | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cutover-pack-'));
    app = join(dir, 'app');
    const pack = run('npm', ['pack', '--json', '--pack-destination', dir], ROOT);
    assert.equal(pack.code, 0, pack.stderr);
    const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    tarball = join(dir, info!.filename);
    writeFileSync(join(dir, 'files.json'), JSON.stringify(info!.files.map((f) => f.path)));
    spawnSync('mkdir', ['-p', app]);
    const install = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], app, 300_000);
    installLog = install.stdout + install.stderr;
    assert.equal(install.code, 0, installLog);
  });
  after(async () => {
    if (up && up.exitCode === null) {
      const exited = new Promise((r) => up!.once('exit', r));
      up.kill('SIGTERM');
      const t = setTimeout(() => up!.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the tarball holds the CLI and no test files, and installs without engine warnings', async () => {
    const files = JSON.parse((await import('node:fs')).readFileSync(join(dir, 'files.json'), 'utf8')) as string[];
    assert.ok(files.includes('bin/cutover.js') && files.includes('src/cli/main.ts') && files.includes('src/ui/index.html'));
    const testOnly = files.filter((f) => /\.test\.ts$|^test\/|^bench\/|^\.ci\/|\/fixtures\//.test(f));
    assert.deepEqual(testOnly, [], 'no test-only file ships');
    assert.doesNotMatch(installLog, /EBADENGINE|engine/i);
  });

  test('npx cutover runs under the Node 24 the package brought: --version, --help, validate', () => {
    const version = run('npx', ['cutover', '--version'], app);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^cutover \d+\.\d+\.\d+ \(node v24\./);
    assert.doesNotMatch(version.stderr, /warn/i);
    const help = run('npx', ['cutover', 'deploy', '--help'], app);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /usage: cutover deploy <service> <version>/);
    assert.equal(run('npx', ['cutover', 'validate', '-c', 'nothing.yaml'], app).code, 2);
  });

  test("a daemon runs the user's app and `npx cutover deploy --wait` in its folder promotes a quiet first release at once", async () => {
    const [port, apiPort] = [await freePort(), await freePort()];
    writeFileSync(
      join(app, 'app.js'),
      "require('node:http').createServer((q, s) => s.end(`hello from ${process.env.CUTOVER_VERSION}`)).listen(process.env.PORT, '127.0.0.1');\n",
    );
    writeFileSync(
      join(app, 'cutover.yaml'),
      `api: { listen: "127.0.0.1:${apiPort}" }\nservices:\n  web:\n    listen: 127.0.0.1:${port}\n    provider: { command: [node, app.js] }\n    health: { interval: 200ms }\n`,
    );
    const env = run('true', [], app).env;
    let out = '';
    // Started from the folder above: provider.cwd and stateDir default to the config's folder, not this one.
    up = spawn(join(app, 'node_modules/.bin/cutover'), ['up', '-c', 'app/cutover.yaml'], {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    up.stdout!.on('data', (b) => (out += b));
    up.stderr!.on('data', (b) => (out += b));
    await waitFor(
      'the daemon to be up',
      () => {
        if (up!.exitCode !== null) throw new GiveUp(`up exited ${up!.exitCode}: ${out}`);
        return /cutover is up/.test(out);
      },
      60_000,
    );
    assert.ok(existsSync(join(app, '.cutover', 'admin.token')), 'stateDir defaults to .cutover beside the config');
    const started = Date.now();
    const deploy = run('npx', ['cutover', 'deploy', 'web', 'v1', '--wait'], app);
    assert.equal(deploy.code, 0, deploy.stdout + deploy.stderr);
    assert.match(deploy.stdout, /a first release is promoted once its gates pass/);
    assert.ok(Date.now() - started < 60_000, 'no analysis window for a first release');
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(await res.text(), 'hello from v1');
  });
});
