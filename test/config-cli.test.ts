// `cutover validate` and `cutover up` as a user runs them: real processes, real files, real sockets.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = path.join(ROOT, 'src/cli/main.ts');
const EXAMPLE = path.join(ROOT, 'examples/design.cutover.yaml');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cutover(args: string[], cwd = ROOT, timeoutMs = 20_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function connectError(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
  });
}

/** Problem lines as main.ts prints them: `FILE: PATH: MESSAGE`. */
const problemLines = (stderr: string, file: string): string[] => stderr.split('\n').filter((l) => l.startsWith(`${file}: `));

let dir = '';
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cutover-cli-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, text);
  return p;
}

test('validate says ok and names the services of a valid file', async () => {
  const run = await cutover(['validate', '-c', EXAMPLE]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, `${EXAMPLE}: ok (1 service: web)\n`);
  assert.equal(run.stderr, '');
});

test('validate reads cutover.yaml in the current folder when no file is given', async () => {
  const here = await mkdtemp(path.join(dir, 'cwd-'));
  await writeFile(
    path.join(here, 'cutover.yaml'),
    'services:\n  web:\n    listen: 127.0.0.1:8080\n    provider: { command: node app.js }\n  api:\n    listen: 127.0.0.1:8081\n    provider: { command: node api.js }\n',
  );
  const run = await cutover(['validate'], here);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'cutover.yaml: ok (2 services: web, api)\n');
});

const invalidFiles: { name: string; text: string; paths: string[] }[] = [
  {
    name: 'typos.yaml',
    text: 'services:\n  web:\n    listen: 127.0.0.1:8080\n    provider: { command: node app.js }\n    health: { intervall: 1s }\n    aproval: manual\n',
    paths: ['services.web.health.intervall', 'services.web.aproval'],
  },
  {
    name: 'types.yaml',
    text: 'services:\n  web:\n    listen: 8080\n    drain: 30\n    workers: two\n    provider: { kind: static, blue: [] }\n    shift: { steps: [50, 10] }\n',
    paths: [
      'services.web.listen',
      'services.web.drain',
      'services.web.workers',
      'services.web.provider.blue',
      'services.web.shift.steps',
      'services.web.shift.steps[1]',
    ],
  },
  {
    name: 'clash.yaml',
    text: 'services:\n  web:\n    listen: 127.0.0.1:8080\n    provider: { command: x }\n  Shop:\n    listen: 127.0.0.1:8080\n    provider: { command: x }\n',
    paths: ['services.Shop', 'services.Shop.listen'],
  },
  { name: 'empty.yaml', text: '', paths: ['(file)'] },
  { name: 'syntax.yaml', text: 'services:\n  web:\n    listen: 127.0.0.1:8080\n   provider: x\n', paths: ['line 4:1'] },
];

for (const c of invalidFiles) {
  test(`validate exits 2 with one line per problem for ${c.name}`, async () => {
    const bad = await file(c.name, c.text);
    const run = await cutover(['validate', '-c', bad]);
    assert.equal(run.code, 2, run.stderr);
    assert.equal(run.stdout, '');
    const lines = problemLines(run.stderr, bad);
    assert.deepEqual(
      lines.map((l) => l.slice(bad.length + 2).split(': ')[0]),
      c.paths,
      run.stderr,
    );
    for (const l of lines) assert.ok(l.length > `${bad}: x: `.length + 10, `a problem line says what to do: ${l}`);
    const n = c.paths.length;
    assert.match(run.stderr, new RegExp(`cutover: CUTOVER_E_CONFIG_INVALID: .*${n} problems?; fix`));
  });
}

test('validate --json prints ok and the services of a valid file', async () => {
  const run = await cutover(['validate', '--json', '-c', EXAMPLE]);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), { ok: true, file: EXAMPLE, services: ['web'] });
});

test('validate --json prints every problem of an invalid file and exits 2', async () => {
  const bad = await file(
    'json.yaml',
    'services:\n  web:\n    listen: 127.0.0.1:8080\n    provider: { command: x }\n    standby: 30\n    colour: blue\n',
  );
  const run = await cutover(['validate', '--json', '--config', bad]);
  assert.equal(run.code, 2, run.stderr);
  const out = JSON.parse(run.stdout);
  assert.equal(out.ok, false);
  assert.equal(out.code, 'CUTOVER_E_CONFIG_INVALID');
  assert.deepEqual(
    out.problems.map((p: { path: string }) => p.path),
    ['services.web.standby', 'services.web.colour'],
  );
  assert.match(out.problems[0].message, /write a duration with its unit/);
});

test('validate of a missing file exits 2 and says which path it looked for', async () => {
  const missing = path.join(dir, 'missing.yaml');
  const run = await cutover(['validate', '-c', missing]);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /CUTOVER_E_CONFIG_NOT_FOUND/);
  assert.ok(run.stderr.includes(missing), run.stderr);
});

test('validate with an unknown flag exits 2 with usage', async () => {
  const run = await cutover(['validate', '--nope']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /CUTOVER_E_USAGE: .*usage: cutover validate/);
});

test('up with an invalid config exits 2 before anything listens', async () => {
  const servicePort = await freePort();
  const apiPort = await freePort();
  const bad = await file(
    'up-bad.yaml',
    `api:\n  listen: 127.0.0.1:${apiPort}\nstateDir: ./up-state\nservices:\n  web:\n    listen: 127.0.0.1:${servicePort}\n    provider: { command: node app.js }\n    drain: 30\n`,
  );
  const run = await cutover(['up', '-c', bad]);
  assert.equal(run.code, 2, `up should refuse the config: ${run.stderr}`);
  assert.deepEqual(
    problemLines(run.stderr, bad).map((l) => l.slice(bad.length + 2).split(': ')[0]),
    ['services.web.drain'],
  );
  assert.equal(await connectError(servicePort), 'ECONNREFUSED', 'nothing listens on the service address');
  assert.equal(await connectError(apiPort), 'ECONNREFUSED', 'nothing listens on the API address');
  assert.equal(existsSync(path.join(dir, 'up-state')), false, 'no state directory was created');
});
