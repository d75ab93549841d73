// The API's edge: bearer tokens and roles against every endpoint, tokens made and revoked through
// the CLI, the audit log of mutating calls, and bodies that are refused before anything changes.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, startDaemon, startUpstream, type Daemon } from './helpers.ts';

type Who = 'none' | 'wrong' | 'viewer' | 'deployer' | 'admin';
const RANK = { viewer: 1, deployer: 2, admin: 3 } as const;

/** Every endpoint with the least role it needs. Mutating calls name a service that does not exist, so
 *  a caller who gets through sees 404 and nothing changes. */
const ENDPOINTS: { method: string; path: string; body?: unknown; role: keyof typeof RANK; through: number }[] = [
  { method: 'GET', path: '/api/v1/services', role: 'viewer', through: 200 },
  { method: 'GET', path: '/api/v1/services/web', role: 'viewer', through: 200 },
  { method: 'GET', path: '/api/v1/services/web/releases', role: 'viewer', through: 200 },
  { method: 'GET', path: '/api/v1/services/web/releases/rel_nope', role: 'viewer', through: 404 },
  { method: 'GET', path: '/api/v1/services/web/audit', role: 'viewer', through: 200 },
  { method: 'GET', path: '/api/v1/audit', role: 'viewer', through: 200 },
  { method: 'GET', path: '/api/v1/whoami', role: 'viewer', through: 200 },
  { method: 'GET', path: '/api/v1/services/web/traffic', role: 'viewer', through: 200 },
  { method: 'GET', path: '/api/v1/events', role: 'viewer', through: 200 },
  { method: 'POST', path: '/api/v1/services/nope/releases', body: { version: 'v2' }, role: 'deployer', through: 404 },
  { method: 'POST', path: '/api/v1/services/nope/promote', body: {}, role: 'deployer', through: 404 },
  { method: 'POST', path: '/api/v1/services/nope/rollback', body: {}, role: 'deployer', through: 404 },
  { method: 'POST', path: '/api/v1/services/nope/abort', body: {}, role: 'deployer', through: 404 },
  { method: 'POST', path: '/api/v1/services/nope/switch', body: { slot: 'green' }, role: 'admin', through: 404 },
  { method: 'GET', path: '/api/v1/tokens', role: 'admin', through: 200 },
  { method: 'POST', path: '/api/v1/tokens', body: { role: 'viewer', name: 'matrix' }, role: 'admin', through: 201 },
  { method: 'DELETE', path: '/api/v1/tokens/tok_nope', role: 'admin', through: 404 },
];

async function call(d: Daemon, method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const ac = new AbortController();
  const res = await fetch(`http://127.0.0.1:${d.apiPort}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: ac.signal,
  });
  if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
    ac.abort(); // a stream that was let through: its status is the answer
    return { status: res.status, json: {} };
  }
  return { status: res.status, json: await res.json() };
}

async function withDaemon(fn: (d: Daemon) => Promise<void>): Promise<void> {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  const d = await startDaemon([blue.address], [green.address]);
  try {
    await fn(d);
  } finally {
    await d.stop();
    await blue.close();
    await green.close();
  }
}

async function makeToken(d: Daemon, role: string, name = role): Promise<string> {
  const r = await d.api('POST', '/api/v1/tokens', { role, name });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return r.json.token as string;
}

test('each role against each endpoint: 401 without or with a wrong token, 403 below the role, through at or above it', async () => {
  await withDaemon(async (d) => {
    const tokens: Record<Who, string | null> = {
      none: null,
      wrong: 'cut_not-a-token',
      viewer: await makeToken(d, 'viewer'),
      deployer: await makeToken(d, 'deployer'),
      admin: await makeToken(d, 'admin', 'second-admin'),
    };
    const problems: string[] = [];
    for (const e of ENDPOINTS) {
      for (const who of Object.keys(tokens) as Who[]) {
        const r = await call(d, e.method, e.path, tokens[who], e.body);
        const expected = who === 'none' || who === 'wrong' ? 401 : RANK[who] < RANK[e.role] ? 403 : e.through;
        if (r.status !== expected)
          problems.push(`${who} ${e.method} ${e.path}: ${r.status}, expected ${expected} (${JSON.stringify(r.json)})`);
        if (r.status >= 400) {
          assert.equal(typeof r.json.error?.code, 'string', `${e.method} ${e.path}: errors are JSON with a code`);
          assert.equal(typeof r.json.error?.message, 'string');
        }
        if (expected === 401) assert.equal(r.json.error.code, 'CUTOVER_E_UNAUTHORIZED');
        if (expected === 403) assert.equal(r.json.error.code, 'CUTOVER_E_FORBIDDEN');
      }
    }
    assert.deepEqual(problems, []);
    // No role may do more than its own: the viewer's switch did not happen.
    assert.equal((await d.api('GET', '/api/v1/services/web')).json.live, 'blue');
  });
});

test('the admin token is written at the first up, readable only by its owner, and the CLI uses it; CUTOVER_TOKEN is admin too', async () => {
  await withDaemon(async (d) => {
    const file = join(d.dir, 'state', 'admin.token');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const { readFileSync } = await import('node:fs');
    const fromFile = readFileSync(file, 'utf8').trim();
    assert.equal((await call(d, 'GET', '/api/v1/whoami', fromFile)).json.role, 'admin');
    assert.equal((await call(d, 'GET', '/api/v1/whoami', d.token)).json.role, 'admin', "the daemon's CUTOVER_TOKEN");
    // The local CLI with no CUTOVER_TOKEN finds the file through the config in its folder.
    const env: NodeJS.ProcessEnv = { ...process.env, CUTOVER_API: `http://127.0.0.1:${d.apiPort}` };
    delete env.CUTOVER_TOKEN;
    // Spawned, not spawnSync: the test process must keep draining the daemon's output meanwhile.
    const r = await new Promise<{ status: number | null; stderr: string }>((resolve, reject) => {
      const p = spawn(process.execPath, [CLI, 'status', '--json'], { cwd: d.dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      p.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
      p.on('error', reject);
      p.on('close', (status) => resolve({ status, stderr }));
    });
    assert.equal(r.status, 0, r.stderr);
  });
});

test('token create prints a working token once, list shows no secrets, revoke stops it at once; the audit log says who did what from where', async () => {
  await withDaemon(async (d) => {
    // Spawned, not spawnSync: a blocked event loop cannot see the API close an idle keep-alive socket,
    // and the next fetch on it fails with "other side closed" once the CLI runs take over 5 s.
    const cli = (...args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const p = spawn(process.execPath, [CLI, 'token', ...args], {
          env: { ...process.env, CUTOVER_API: `http://127.0.0.1:${d.apiPort}`, CUTOVER_TOKEN: d.token },
        });
        let stdout = '';
        let stderr = '';
        p.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
        p.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
        p.on('error', reject);
        p.on('close', (status) => resolve({ status, stdout, stderr }));
      });
    const created = await cli('create', '--role', 'deployer', '--name', 'ci');
    assert.equal(created.status, 0, created.stderr);
    const secret = created.stdout.trim();
    assert.match(secret, /^cut_[A-Za-z0-9_-]{20,}$/);
    assert.match(created.stderr, /shown only now/);
    assert.equal((await call(d, 'GET', '/api/v1/whoami', secret)).json.role, 'deployer');

    const list = await cli('list');
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /ci\s+deployer/);
    assert.ok(!list.stdout.includes(secret), 'the secret is never listed');
    const json = JSON.parse((await cli('list', '--json')).stdout);
    assert.ok(json.every((t: any) => !('token' in t) && !('hash' in t)));

    const bad = await cli('create', '--role', 'root');
    assert.equal(bad.status, 3, 'the API refuses a bad role: exit 3');
    assert.match(bad.stderr, /CUTOVER_E_BAD_REQUEST.*role/);

    // A deployer switches nothing, but deploys; both attempts are audited with who and where from.
    assert.equal((await call(d, 'POST', '/api/v1/services/web/switch', secret, { slot: 'green' })).status, 403);
    const dep = await call(d, 'POST', '/api/v1/services/web/releases', secret, { version: 'v2' });
    assert.equal(dep.status, 202, JSON.stringify(dep.json));

    const revoked = await cli('revoke', 'ci');
    assert.equal(revoked.status, 0, revoked.stderr);
    const after = await call(d, 'GET', '/api/v1/whoami', secret);
    assert.equal(after.status, 401);
    assert.equal(after.json.error.code, 'CUTOVER_E_UNAUTHORIZED');

    const audit = (await d.api('GET', '/api/v1/audit')).json as any[];
    const lines = audit.map((e) => `${e.actor} ${e.data.method} ${e.data.path} ${e.data.status} ${e.data.remote}`);
    assert.ok(
      lines.some((l) => /^api:ci POST \/api\/v1\/services\/web\/releases 202 (::ffff:)?127\.0\.0\.1$/.test(l)),
      lines.join('\n'),
    );
    assert.ok(lines.some((l) => /^api:admin POST \/api\/v1\/tokens 201 /.test(l)));
    assert.ok(lines.some((l) => /^api:admin DELETE \/api\/v1\/tokens\/\S+ 200 /.test(l)));
    assert.ok(
      audit.every((e) => typeof e.time === 'string' && !JSON.stringify(e).includes(secret)),
      'no secret in the audit log',
    );
    const web = (await d.api('GET', '/api/v1/services/web/audit')).json as any[];
    assert.ok(web.some((e) => e.data.path === '/api/v1/services/web/releases'));
    assert.ok(web.every((e) => e.service === 'web'));
    // `history` shows the audit log under the releases.
    const hist = spawnSync(process.execPath, [CLI, 'history', 'web'], {
      env: { ...process.env, CUTOVER_API: `http://127.0.0.1:${d.apiPort}`, CUTOVER_TOKEN: d.token },
      encoding: 'utf8',
    });
    assert.equal(hist.status, 0, hist.stderr);
    assert.match(hist.stdout, /api:ci\s+POST \/api\/v1\/services\/web\/releases/);
  });
});

function rawPost(
  port: number,
  path: string,
  token: string,
  chunks: (string | Buffer)[],
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

test('malformed JSON, wrong types, unknown fields and oversized bodies get 400 or 413 with a code, and change nothing', async () => {
  await withDaemon(async (d) => {
    const before = (await d.api('GET', '/api/v1/services/web')).json;
    const cases: { path: string; body: string | Buffer[]; status: number; code: string; headers?: Record<string, string> }[] = [
      { path: '/api/v1/services/web/releases', body: '{"version": "v2"', status: 400, code: 'CUTOVER_E_BAD_REQUEST' },
      { path: '/api/v1/services/web/releases', body: '{"version": 2}', status: 400, code: 'CUTOVER_E_BAD_REQUEST' },
      { path: '/api/v1/services/web/releases', body: '{"version": "../etc"}', status: 400, code: 'CUTOVER_E_BAD_REQUEST' },
      { path: '/api/v1/services/web/releases', body: '["v2"]', status: 400, code: 'CUTOVER_E_BAD_REQUEST' },
      { path: '/api/v1/services/web/releases', body: '{"version": "v2", "force": true}', status: 400, code: 'CUTOVER_E_BAD_REQUEST' },
      { path: '/api/v1/services/web/switch', body: '{"slot": "purple"}', status: 400, code: 'CUTOVER_E_BAD_REQUEST' },
      { path: '/api/v1/services/web/switch', body: '{"slot": "green", "force": "yes"}', status: 400, code: 'CUTOVER_E_BAD_REQUEST' },
      { path: '/api/v1/services/web/rollback', body: '{"reason": 5}', status: 400, code: 'CUTOVER_E_BAD_REQUEST' },
      { path: '/api/v1/tokens', body: '{"role": "root"}', status: 400, code: 'CUTOVER_E_BAD_REQUEST' },
      { path: '/api/v1/tokens', body: '{"role": "viewer", "name": ""}', status: 400, code: 'CUTOVER_E_BAD_REQUEST' },
      {
        path: '/api/v1/services/web/switch',
        body: JSON.stringify({ slot: 'green', reason: 'x'.repeat(100_000) }),
        status: 413,
        code: 'CUTOVER_E_BODY_TOO_LARGE',
      },
      // Without a content-length: the stream is cut off once it passes the limit.
      {
        path: '/api/v1/services/web/releases',
        body: Array.from({ length: 40 }, () => Buffer.alloc(4096, 0x20)),
        status: 413,
        code: 'CUTOVER_E_BODY_TOO_LARGE',
        headers: { 'transfer-encoding': 'chunked' },
      },
    ];
    for (const c of cases) {
      const r = await rawPost(d.apiPort, c.path, d.token, Array.isArray(c.body) ? c.body : [c.body], c.headers);
      assert.equal(r.status, c.status, `${c.path} ${String(c.body).slice(0, 60)}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error.code, c.code);
      assert.ok(r.json.error.message.length > 10);
    }
    const after = (await d.api('GET', '/api/v1/services/web')).json;
    assert.equal(after.live, before.live);
    assert.equal(after.generation, before.generation, 'no route change');
    assert.deepEqual((await d.api('GET', '/api/v1/services/web/releases')).json, [], 'no release');
    assert.deepEqual(((await d.api('GET', '/api/v1/tokens')).json as any[]).length, 0, 'no token');
    // Refused bodies reach no action, but every refusal is in the audit log with its status and code.
    const audit = (await d.api('GET', '/api/v1/audit')).json as any[];
    assert.deepEqual(audit.map((e) => `${e.data.status} ${e.data.error}`).sort(), cases.map((c) => `${c.status} ${c.code}`).sort());
  });
});
