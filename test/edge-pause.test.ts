// The real daemon pauses, resumes and puts services in maintenance, through the CLI and the API: a
// plain HTTP/1.1 service (its router under the supervisor) and a TLS service answering HTTP/2 and
// HTTP/1.1 (its router on the edge listener). Held requests go on in order at the resume, or get
// 503 at the timeout; requests already running finish; maintenance is recorded in the store and is
// still on after the daemon is stopped and started again.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import http from 'node:http';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { h2Connect, h2Request, httpsGet } from './edge-helpers.ts';
import { CLI, DAEMON_START_MS, freePort, startDaemon, startUpstream, type Daemon, type Upstream, waitFor } from './helpers.ts';
import { makeCa, makeCert, type TestCa } from './tls.ts';

function get(port: number, path: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('pause, resume and maintenance', () => {
  let ca: TestCa;
  let up: Upstream;
  let d: Daemon;
  let webPort: number;
  let appPort: number;
  /** Paths the upstream got, in order (health checks left out). */
  let seen: string[];
  let cli: (args: string[]) => Promise<{ code: number; out: string }>;

  before(async () => {
    ca = makeCa();
    seen = [];
    const app = makeCert(ca, ['app.test'], 'app');
    up = await startUpstream('blue', (req, res) => {
      seen.push(req.url ?? '');
      if (req.url === '/slow') {
        setTimeout(() => res.end('slow done'), 700);
        return true;
      }
      return false;
    });
    webPort = await freePort();
    appPort = await freePort();
    const common = { drain: '2s', health: { path: '/healthz', interval: '100ms' }, provider: { kind: 'static', blue: [up.address] } };
    d = await startDaemon([], [], {
      services: {
        web: { ...common, listen: `127.0.0.1:${webPort}`, maintenance: { retryAfter: '2m', message: 'Back soon.' } },
        app: { ...common, listen: `127.0.0.1:${appPort}`, hosts: ['app.test'], tls: { certificate: app.cert, key: app.key } },
      },
    });
    await waitFor('healthy targets', async () => (await get(webPort, '/warm')).status === 200);
    cli = (args) =>
      new Promise((resolve) => {
        const env = { ...process.env, CUTOVER_API: `http://127.0.0.1:${d.apiPort}`, CUTOVER_TOKEN: d.token };
        execFile(process.execPath, [CLI, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
        );
      });
  });

  after(async () => {
    await d?.stop();
    await up?.close();
    rmSync(ca.dir, { recursive: true, force: true });
  });

  it('a paused plain HTTP service holds new requests and releases them in order at the resume; a running one finishes', async () => {
    const slow = get(webPort, '/slow');
    await waitFor('the slow request upstream', () => seen.includes('/slow'));
    const paused = await cli(['pause', 'web', '--timeout', '20s']);
    assert.equal(paused.code, 0, paused.out);
    assert.match(paused.out, /web: paused; new requests wait up to 20s/);
    seen.length = 0;
    const held: Promise<{ status: number; body: string }>[] = [];
    for (const n of [1, 2, 3, 4, 5]) {
      held.push(get(webPort, `/held/${n}`));
      await sleep(100);
    }
    assert.deepEqual(await slow.then((r) => [r.status, r.body]), [200, 'slow done'], 'the request running at the pause finished');
    assert.deepEqual(seen, [], 'no held request reached the upstream');
    const status = await d.api('GET', '/api/v1/services/web');
    assert.deepEqual(status.json.paused, { timeout: 20_000 });
    const resumed = await cli(['resume', 'web']);
    assert.equal(resumed.code, 0, resumed.out);
    const answers = await Promise.all(held);
    assert.deepEqual(
      answers.map((a) => a.status),
      [200, 200, 200, 200, 200],
    );
    assert.deepEqual(seen, ['/held/1', '/held/2', '/held/3', '/held/4', '/held/5'], 'released in the order they came');
    assert.equal((await get(webPort, '/after')).status, 200);
  });

  it('a request held past the pause timeout gets 503', async () => {
    assert.equal((await d.api('POST', '/api/v1/services/web/pause', { timeout: '300ms' })).status, 200);
    const started = Date.now();
    const r = await get(webPort, '/late');
    assert.equal(r.status, 503);
    assert.match(r.body, /did not resume within 300 ms/);
    assert.ok(Date.now() - started >= 250, `answered after ${Date.now() - started} ms`);
    assert.ok(!seen.includes('/late'));
    assert.equal((await d.api('POST', '/api/v1/services/web/resume', {})).status, 200);
  });

  it('maintenance answers 503 with Retry-After and the message, over HTTP/1.1 and over TLS with HTTP/2', async () => {
    const on = await cli(['maintenance', 'web', 'on', '--message', 'Upgrading <db>']);
    assert.equal(on.code, 0, on.out);
    const r = await get(webPort, '/');
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '120');
    assert.match(String(r.headers['content-type']), /text\/html/);
    assert.match(r.body, /Upgrading &#60;db&#62;/);
    assert.equal((await d.api('POST', '/api/v1/services/app/maintenance', { enabled: true })).status, 200);
    const s = await h2Connect(appPort, 'app.test', ca.pem);
    try {
      const h2 = await h2Request(s, '/');
      assert.equal(h2.status, 503);
      assert.equal(h2.headers['retry-after'], '300');
      assert.match(h2.body, /down for maintenance/);
      assert.equal((await httpsGet(appPort, 'app.test', '/', ca.pem)).status, 503);
      // Pause beneath maintenance: turning maintenance off leaves the pause holding.
      await d.api('POST', '/api/v1/services/app/pause', { timeout: '20s' });
      await d.api('POST', '/api/v1/services/app/maintenance', { enabled: false });
      seen.length = 0;
      const a = h2Request(s, '/h2/1');
      await sleep(100);
      const b = h2Request(s, '/h2/2');
      await sleep(300);
      assert.deepEqual(seen, [], 'held over HTTP/2');
      await d.api('POST', '/api/v1/services/app/resume', {});
      assert.deepEqual([(await a).status, (await b).status], [200, 200]);
      assert.deepEqual(seen, ['/h2/1', '/h2/2']);
    } finally {
      s.close();
    }
  });

  it('bad bodies and unknown services get coded errors and change nothing', async () => {
    const before = (await d.api('GET', '/api/v1/services/app')).json.generation;
    for (const [path, body] of [
      ['pause', { timeout: 'soon' }],
      ['pause', { timeout: '2h' }],
      ['pause', { timeout: 30 }],
      ['maintenance', { enabled: 'yes' }],
      ['maintenance', { enabled: false, message: 'x' }],
      ['resume', { force: true }],
    ] as const) {
      const r = await d.api('POST', `/api/v1/services/app/${path}`, body);
      assert.equal(r.status, 400, `${path} ${JSON.stringify(body)}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error.code, 'CUTOVER_E_BAD_REQUEST');
    }
    const missing = await d.api('POST', '/api/v1/services/nope/pause', {});
    assert.equal(missing.json.error.code, 'CUTOVER_E_NOT_FOUND');
    const usage = await cli(['maintenance', 'web', 'maybe']);
    assert.equal(usage.code, 2, usage.out);
    assert.equal((await d.api('GET', '/api/v1/services/app')).json.generation, before);
  });

  it('maintenance is recorded in the store: still on after the daemon stops and starts again', async () => {
    assert.equal((await d.api('POST', '/api/v1/services/web/maintenance', { enabled: true, message: 'Restarting' })).status, 200);
    const exited = new Promise((r) => d.child.once('exit', r));
    d.child.kill('SIGTERM');
    await exited;
    const again = spawn(process.execPath, [CLI, 'up', '-c', join(d.dir, 'cutover.yaml')], {
      env: { ...process.env, CUTOVER_TOKEN: d.token },
      stdio: 'ignore',
    });
    try {
      // Until the controller applies the stored table the router has none yet (503 "no release yet").
      const r = await waitFor(
        'the daemon serving its stored table',
        () =>
          get(webPort, '/').then(
            (x) => (/no release yet/.test(x.body) ? undefined : x),
            () => undefined,
          ),
        DAEMON_START_MS,
      );
      assert.equal(r.status, 503);
      assert.match(r.body, /Restarting/);
      await waitFor(
        'the API again',
        () =>
          fetch(`http://127.0.0.1:${d.apiPort}/healthz`).then(
            (x) => x.ok,
            () => false,
          ),
        DAEMON_START_MS,
      );
      assert.equal((await d.api('POST', '/api/v1/services/web/maintenance', { enabled: false })).status, 200);
      await waitFor('maintenance off', async () => (await get(webPort, '/')).status === 200);
    } finally {
      const gone = new Promise((r) => again.once('exit', r));
      again.kill('SIGTERM');
      await gone;
    }
  });
});
