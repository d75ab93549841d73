// The API against what a security review tried: a malformed path, a Host it is not (DNS
// rebinding), refused calls that leave no trace, a revoked token's open event stream, a /metrics
// anyone can read, and an API on a non-loopback address without a word.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { CLI, type Daemon, freePort, startDaemon, startUpstream, waitFor } from './helpers.ts';

/** One request with headers fetch will not send (Host), on a fresh connection. */
function raw(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text.startsWith('{') ? JSON.parse(text) : text }));
    });
    req.on('error', reject);
    req.end(body);
  });
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

test('a malformed path is a 400, a Host the API is not is a 403, and refused changes are in the audit log', async () => {
  await withDaemon(async (d) => {
    const admin = { authorization: `Bearer ${d.token}` };
    const bad = await raw(d.apiPort, 'GET', '/api/v1/services/%E0%A4%A', admin);
    assert.equal(bad.status, 400, JSON.stringify(bad.json));
    assert.equal(bad.json.error.code, 'CUTOVER_E_BAD_REQUEST');

    const rebound = await raw(d.apiPort, 'GET', '/api/v1/services', { ...admin, host: `evil.example:${d.apiPort}` });
    assert.equal(rebound.status, 403);
    assert.equal(rebound.json.error.code, 'CUTOVER_E_FORBIDDEN');
    assert.match(rebound.json.error.message, /api\.hosts/);
    for (const host of [`127.0.0.1:${d.apiPort}`, `localhost:${d.apiPort}`]) {
      assert.equal((await raw(d.apiPort, 'GET', '/api/v1/services', { ...admin, host })).status, 200, host);
    }
    assert.equal((await raw(d.apiPort, 'GET', '/healthz', { host: 'evil.example' })).status, 200, 'health checks come from anywhere');

    const viewer = (await d.api('POST', '/api/v1/tokens', { role: 'viewer', name: 'looker' })).json.token as string;
    const json = { 'content-type': 'application/json' };
    const tries: [Record<string, string>, string, number][] = [
      [json, '{"slot":"green"}', 401],
      [{ ...json, authorization: 'Bearer cut_wrong' }, '{"slot":"green"}', 401],
      [{ ...json, authorization: `Bearer ${viewer}` }, '{"slot":"green"}', 403],
      [{ ...json, ...admin }, '{"slot":"purple"}', 400],
      [{ ...json, ...admin }, JSON.stringify({ slot: 'green', reason: 'x'.repeat(70_000) }), 413],
    ];
    for (const [headers, body, status] of tries) {
      assert.equal((await raw(d.apiPort, 'POST', '/api/v1/services/web/switch', headers, body)).status, status);
    }
    const audit = await waitFor('the refusals in the audit log', async () => {
      const a = (await d.api('GET', '/api/v1/services/web/audit')).json as any[];
      return a.filter((e) => e.data.path === '/api/v1/services/web/switch').length >= tries.length ? a : undefined;
    });
    const seen = audit
      .filter((e) => e.data.path === '/api/v1/services/web/switch')
      .map((e) => `${e.actor} ${e.data.status} ${e.data.error}`);
    for (const want of [
      /^api:unauthenticated 401 CUTOVER_E_UNAUTHORIZED$/,
      /^api:looker 403 CUTOVER_E_FORBIDDEN$/,
      /^api:admin 400 CUTOVER_E_BAD_REQUEST$/,
      /^api:admin 413 CUTOVER_E_BODY_TOO_LARGE$/,
    ]) {
      assert.ok(
        seen.some((l) => want.test(l)),
        `${want} in ${seen.join('; ')}`,
      );
    }
    assert.equal((await d.api('GET', '/api/v1/services/web')).json.live, 'blue', 'none of them switched');
  });
});

test('revoking a token ends the event streams opened with it, at once', async () => {
  await withDaemon(async (d) => {
    const t = (await d.api('POST', '/api/v1/tokens', { role: 'viewer', name: 'watcher' })).json as { id: string; token: string };
    const res = await fetch(`http://127.0.0.1:${d.apiPort}/api/v1/events`, { headers: { authorization: `Bearer ${t.token}` } });
    assert.equal(res.status, 200);
    const ended = (async () => {
      try {
        for await (const _ of res.body as AsyncIterable<Uint8Array>) {
          // reading until the daemon ends it
        }
      } catch {
        // a reset counts as ended
      }
      return Date.now();
    })();
    const revokedAt = Date.now();
    assert.equal((await d.api('DELETE', `/api/v1/tokens/${t.id}`)).status, 200);
    const at = await Promise.race([ended, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
    assert.ok(at > 0, 'the stream ended');
    assert.ok(at - revokedAt < 5000, `within ${at - revokedAt} ms`);
    const again = await fetch(`http://127.0.0.1:${d.apiPort}/api/v1/events`, { headers: { authorization: `Bearer ${t.token}` } });
    assert.equal(again.status, 401);
    await again.body?.cancel();
  });
});

test('an API listening beyond loopback says so at start, and api.metricsToken makes /metrics ask for a token', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-api-'));
  const apiPort = await freePort();
  const blue = await startUpstream('blue');
  const token = `tok-${Math.random().toString(36).slice(2)}`;
  const file = join(dir, 'cutover.yaml');
  writeFileSync(
    file,
    stringify({
      api: { listen: `0.0.0.0:${apiPort}`, metricsToken: true },
      stateDir: join(dir, 'state'),
      services: { web: { listen: `127.0.0.1:${await freePort()}`, provider: { kind: 'static', blue: [blue.address] } } },
    }),
  );
  let out = '';
  const child = spawn(process.execPath, [CLI, 'up', '-c', file], {
    env: { ...process.env, CUTOVER_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  try {
    await waitFor('the API', async () => (await fetch(`http://127.0.0.1:${apiPort}/healthz`)).ok, 30_000);
    assert.match(out, /the API listens beyond this machine, over plain HTTP/);
    const anon = await fetch(`http://127.0.0.1:${apiPort}/metrics`);
    assert.equal(anon.status, 401);
    await anon.body?.cancel();
    const scraped = await fetch(`http://127.0.0.1:${apiPort}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(scraped.status, 200);
    assert.match(await scraped.text(), /cutover_/);
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    await blue.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
