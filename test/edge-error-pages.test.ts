// errorPages: the router's own 502, 503, 504, 408 and 413 answers are the pages the config names
// (read when it is loaded, refused by validate when missing, unreadable or for a status the router
// never answers), over plain HTTP/1.1 and over TLS with HTTP/2, and never show an upstream address.
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/load.ts';
import type { ConfigError } from '../src/errors.ts';
import type { PagesConfig } from '../src/router/pages.ts';
import { Router } from '../src/router/router.ts';
import { routerOptions } from '../src/traffic/router-options.ts';
import { h2Connect, h2Request, liveSpec, startEdge } from './edge-helpers.ts';
import { freePort, startUpstream, testRouterOptions, type Upstream } from './helpers.ts';
import { makeCa, makeCert, type TestCa } from './tls.ts';

const PAGES = {
  502: ['502.html', '<h1>Our upstream is having a moment</h1>\n'],
  503: ['503.html', '<h1>Nobody home — back soon</h1>\n'],
  504: ['504.txt', 'too slow, sorry\n'],
  408: ['408.html', '<h1>You went quiet</h1>\n'],
  413: ['413.json', '{"error":"too large"}\n'],
} as const;

function config(pages: Record<string, string>): string {
  const lines = Object.entries(pages).map(([k, v]) => `      ${k}: ${v}`);
  return `services:\n  web:\n    listen: 127.0.0.1:8080\n    provider: { command: x }\n    errorPages:\n${lines.join('\n')}\n`;
}

function request(
  port: number,
  path: string,
  body?: { length: number; send: string },
): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = body ? { 'content-length': body.length } : {};
    const req = http.request({ host: '127.0.0.1', port, path, method: body ? 'POST' : 'GET', headers, agent: false }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: b }));
    });
    req.on('error', reject);
    if (body) req.write(body.send);
    else req.end();
  });
}

describe('error pages', () => {
  let dir: string;
  let pages: PagesConfig;
  let up: Upstream;
  let closedPort: number;
  let ca: TestCa;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cutover-pages-'));
    mkdirSync(join(dir, 'pages'));
    for (const [file, body] of Object.values(PAGES)) writeFileSync(join(dir, 'pages', file), body);
    const cfg = parseConfig(
      config(Object.fromEntries(Object.entries(PAGES).map(([status, [file]]) => [status, `pages/${file}`]))),
      join(dir, 'cutover.yaml'),
    );
    pages = routerOptions(cfg.services.web!).pages!;
    up = await startUpstream('blue', (req) => req.url === '/hang');
    closedPort = await freePort();
    ca = makeCa();
  });

  after(async () => {
    await up.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(ca.dir, { recursive: true, force: true });
  });

  it('validate refuses a missing page, a status the router never answers and a file type it cannot name', () => {
    writeFileSync(join(dir, 'page.png'), 'x');
    let err: ConfigError | null = null;
    try {
      parseConfig(config({ 502: 'pages/nope.html', 299: 'pages/502.html', 503: 'page.png' }), join(dir, 'cutover.yaml'));
    } catch (e) {
      err = e as ConfigError;
    }
    assert.ok(err !== null, 'refused');
    const problems = err.problems.map((p) => `${p.path}: ${p.message}`).join('\n');
    assert.match(problems, /services\.web\.errorPages\["502"\]: .*nope\.html cannot be read \(ENOENT\)/);
    assert.match(problems, /services\.web\.errorPages\["299"\]: "299" is not a status the router answers itself/);
    assert.match(problems, /services\.web\.errorPages\["503"\]: page\.png: name a \.html, \.htm, \.txt or \.json file/);
  });

  it('plain HTTP/1.1: 502, 503, 504, 408 and 413 are the configured pages with their types', async () => {
    const router = new Router(testRouterOptions(0, { pages, responseTimeout: 300, bodyTimeout: 300, maxRequestBody: 100 }));
    const { port } = await router.listen();
    try {
      router.setHealth(up.address, true);
      router.apply(liveSpec('web', [up.address], [], 'blue', 1));
      assert.deepEqual(await request(port, '/hang'), { status: 504, type: 'text/plain; charset=utf-8', body: PAGES[504][1] });
      assert.deepEqual(await request(port, '/big', { length: 101, send: 'x' }), {
        status: 413,
        type: 'application/json',
        body: PAGES[413][1],
      });
      assert.deepEqual(await request(port, '/slow-body', { length: 10, send: 'x' }), {
        status: 408,
        type: 'text/html; charset=utf-8',
        body: PAGES[408][1],
      });
      router.setHealth(up.address, false);
      assert.deepEqual(await request(port, '/'), { status: 503, type: 'text/html; charset=utf-8', body: PAGES[503][1] });
      const gone = `127.0.0.1:${closedPort}`;
      router.setHealth(gone, true);
      router.apply(liveSpec('web', [gone], [], 'blue', 2));
      const bad = await request(port, '/');
      assert.deepEqual(bad, { status: 502, type: 'text/html; charset=utf-8', body: PAGES[502][1] });
      assert.ok(!bad.body.includes(String(closedPort)));
    } finally {
      await router.close();
    }
  });

  it('HTTP/2 over TLS: the same pages, and no upstream address in a 502', async () => {
    const cert = makeCert(ca, ['app.test'], 'app');
    const gone = `127.0.0.1:${closedPort}`;
    const edge = await startEdge([
      {
        name: 'app',
        edge: { hosts: ['app.test'], stripPrefix: true, tls: { certificate: cert.cert, key: cert.key } },
        blue: [up.address],
        router: { pages, responseTimeout: 300, maxRequestBody: 100 },
      },
    ]);
    const s = await h2Connect(edge.port, 'app.test', ca.pem);
    try {
      const slow = await h2Request(s, '/hang');
      assert.deepEqual([slow.status, slow.headers['content-type'], slow.body], [504, 'text/plain; charset=utf-8', PAGES[504][1]]);
      const big = await h2Request(s, '/big', { ':method': 'POST', 'content-length': '101' }, 'x'.repeat(101));
      assert.deepEqual([big.status, big.body], [413, PAGES[413][1]]);
      const host = edge.hosts.get('app')!;
      host.setHealth(up.address, false);
      assert.deepEqual([(await h2Request(s, '/')).status, (await h2Request(s, '/')).body], [503, PAGES[503][1]]);
      host.setHealth(gone, true);
      await host.apply(liveSpec('app', [gone], [], 'blue', 2));
      const bad = await h2Request(s, '/');
      assert.deepEqual([bad.status, bad.body], [502, PAGES[502][1]]);
    } finally {
      s.close();
      await edge.close();
    }
  });

  it('without errorPages the answer is a line of plain text that names no upstream', async () => {
    const router = new Router(testRouterOptions(0));
    const { port } = await router.listen();
    try {
      const gone = `127.0.0.1:${closedPort}`;
      router.setHealth(gone, true);
      router.apply(liveSpec('web', [gone], [], 'blue', 1));
      const r = await request(port, '/');
      assert.equal(r.status, 502);
      assert.equal(r.body, 'bad gateway: the upstream refused the connection\n');
    } finally {
      await router.close();
    }
  });
});
