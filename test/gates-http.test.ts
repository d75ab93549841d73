// The http gate against real servers: a good and a bad version, the preview token on the wire, the
// real router sending the suite to the idle slot, and the gate's timeout bounding the whole suite.
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { HttpGateRequest } from '../src/config/types.ts';
import { decode, MAX_BODY_BYTES, runHttpGate } from '../src/gates/http.ts';
import type { GateContext } from '../src/gates/types.ts';
import { Router } from '../src/router/router.ts';
import { freePort, startUpstream, testRouterOptions, type Upstream } from './helpers.ts';

const TOKEN = 'preview-secret-4f1c9a';

function ctx(previewUrl: string, extra: Partial<GateContext> = {}): GateContext {
  return {
    service: 'web',
    version: 'v2',
    slot: 'green',
    previewUrl,
    previewHeader: 'x-cutover-preview',
    previewToken: TOKEN,
    directTargets: [],
    cwd: process.cwd(),
    ...extra,
  };
}

function req(path: string, expect: HttpGateRequest['expect'], extra: Partial<HttpGateRequest> = {}): HttpGateRequest {
  return { method: 'GET', path, headers: {}, expect, ...extra };
}

/** The suite a user would write for the API: every kind of expectation. */
const SUITE: HttpGateRequest[] = [
  req('/', { status: 200, body: 'welcome' }),
  req('/api/items', {
    status: 200,
    headers: { 'content-type': 'application/json', 'x-version': '/^v2\\.\\d+$/' },
    bodyRegex: '"id":\\s*7',
    json: { 'items[0].id': 7, 'items[0].tags': ['new'], 'meta.version': 'v2.1' },
    maxLatency: 150,
  }),
  req(
    '/api/items',
    { status: 201, body: 'created' },
    { method: 'POST', body: '{"name":"x"}', headers: { 'content-type': 'application/json' } },
  ),
];

function goodApp(seen: http.IncomingHttpHeaders[]): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  return (req, res) => {
    seen.push(req.headers);
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url === '/') return res.end('welcome to v2');
      if (req.url === '/api/items' && req.method === 'POST') {
        res.statusCode = body.includes('"name"') ? 201 : 400;
        return res.end('created');
      }
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-version', 'v2.1');
      res.end(JSON.stringify({ items: [{ id: 7, tags: ['new'] }], meta: { version: 'v2.1' } }));
    });
    return true;
  };
}

describe('http gate', () => {
  let good: Upstream;
  let bad: Upstream;
  const seen: http.IncomingHttpHeaders[] = [];

  before(async () => {
    good = await startUpstream('green', goodApp(seen));
    bad = await startUpstream('green', (req, res) => {
      if (req.url === '/') {
        res.statusCode = 500;
        res.end('internal error');
        return true;
      }
      setTimeout(() => {
        res.setHeader('content-type', 'text/html');
        res.setHeader('x-version', 'v1.9');
        res.end(JSON.stringify({ items: [{ id: 8, tags: ['old'] }], meta: {} }));
      }, 250);
      return true;
    });
  });
  after(async () => {
    await good.close();
    await bad.close();
  });

  test('a good version passes the suite, and every request carried the preview token in the preview header', async () => {
    seen.length = 0;
    const r = await runHttpGate({ requests: SUITE, timeout: 5000 }, ctx(`http://${good.address}`));
    assert.equal(r.outcome, 'passed', r.summary);
    assert.equal(r.kind, 'http');
    assert.equal(r.summary, '3 requests met every expectation');
    assert.deepEqual((r.details.failures as unknown[]).length, 0);
    assert.equal(seen.length, 3);
    for (const h of seen) assert.equal(h['x-cutover-preview'], TOKEN);
    assert.equal(seen[2]?.['content-type'], 'application/json', 'the request headers of the suite are sent too');
  });

  test('a bad version fails with every failed expectation named, what was expected and what came', async () => {
    const r = await runHttpGate({ requests: SUITE.slice(0, 2), timeout: 5000 }, ctx(`http://${bad.address}`));
    assert.equal(r.outcome, 'failed');
    const messages = (r.details.failures as { message: string }[]).map((f) => f.message);
    assert.deepEqual(messages, [
      'GET /: expected status 200, got 500',
      'GET /: expected the body to contain "welcome", got "internal error"',
      'GET /api/items: expected header content-type: "application/json", got "text/html"',
      'GET /api/items: expected header x-version to match /^v2\\.\\d+$/, got "v1.9"',
      `GET /api/items: expected the body to match /"id":\\s*7/, got ${JSON.stringify(JSON.stringify({ items: [{ id: 8, tags: ['old'] }], meta: {} }))}`,
      'GET /api/items: expected items[0].id = 7, got 8',
      'GET /api/items: expected items[0].tags = ["new"], got ["old"]',
      'GET /api/items: expected meta.version = "v2.1", got nothing (no such path)',
      messages.at(-1) ?? '',
    ]);
    assert.match(messages.at(-1) ?? '', /^GET \/api\/items: expected a response within 150 ms, took \d+ ms$/);
    assert.equal(r.summary, 'GET /: expected status 200, got 500 (and 8 more failed expectations)');
  });

  test('without a status expectation, a 5xx still fails the request', async () => {
    const r = await runHttpGate({ requests: [req('/', {})], timeout: 5000 }, ctx(`http://${bad.address}`));
    assert.equal(r.outcome, 'failed');
    assert.equal(r.summary, 'GET /: expected a 2xx or 3xx status, got 500');
  });

  test('a router that cannot be reached fails every request with the reason, and the run continues', async () => {
    const port = await freePort();
    const r = await runHttpGate(
      { requests: [req('/a', { status: 200 }), req('/b', { status: 200 })], timeout: 5000 },
      ctx(`http://127.0.0.1:${port}`),
    );
    assert.equal(r.outcome, 'failed');
    const failures = r.details.failures as { message: string }[];
    assert.equal(failures.length, 2);
    assert.match(failures[0]?.message ?? '', /^GET \/a: request failed: .*ECONNREFUSED/);
  });

  test('the gate timeout bounds the whole suite, not each request', async () => {
    const slow = await startUpstream('green', (_req, res) => {
      setTimeout(() => res.end('late'), 400);
      return true;
    });
    try {
      const started = Date.now();
      const r = await runHttpGate(
        { requests: [req('/1', {}), req('/2', {}), req('/3', {}), req('/4', {})], timeout: 1000 },
        ctx(`http://${slow.address}`),
      );
      const took = Date.now() - started;
      assert.equal(r.outcome, 'timeout');
      assert.ok(took < 1500, `the suite stopped at its timeout, took ${took} ms`);
      assert.equal(r.summary, "GET /3: no response before the gate's timeout (1 s)");
      assert.equal((r.details.requests as unknown[]).length, 3, 'the fourth request never ran');
    } finally {
      await slow.close();
    }
  });

  test('a response that stops halfway through its body is cut off at the gate timeout too', async () => {
    const stuck = await startUpstream('green', (_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      return true;
    });
    try {
      const started = Date.now();
      const r = await runHttpGate({ requests: [req('/', { status: 200 })], timeout: 500 }, ctx(`http://${stuck.address}`));
      assert.equal(r.outcome, 'timeout');
      assert.ok(Date.now() - started < 1500);
    } finally {
      await stuck.close();
    }
  });

  test('an aborted release stops the suite at once and is not a pass', async () => {
    const slow = await startUpstream('green', (_req, res) => {
      setTimeout(() => res.end('late'), 2000);
      return true;
    });
    try {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 100);
      const r = await runHttpGate({ requests: [req('/', {})], timeout: 10_000 }, ctx(`http://${slow.address}`, { signal: ac.signal }));
      assert.equal(r.outcome, 'error');
      assert.equal(r.summary, 'GET /: the release was aborted');
    } finally {
      await slow.close();
    }
  });

  test('a compressed body is checked as the browser shows it', async () => {
    const zipped = await startUpstream('green', (req, res) => {
      const json = JSON.stringify({ ok: true, accept: req.headers['accept-encoding'] });
      res.setHeader('content-encoding', 'gzip');
      res.setHeader('content-type', 'application/json');
      res.end(gzipSync(json));
      return true;
    });
    try {
      const r = await runHttpGate(
        { requests: [req('/', { json: { ok: true, accept: 'gzip' } }, { headers: { 'accept-encoding': 'gzip' } })], timeout: 5000 },
        ctx(`http://${zipped.address}`),
      );
      assert.equal(r.outcome, 'passed', r.summary);
    } finally {
      await zipped.close();
    }
  });

  test('a compression bomb is inflated only up to the body limit, and the result says the body was cut', async () => {
    // 16 MiB of zeros, 16 times the limit: some 16 KiB on the wire.
    const bomb = gzipSync(Buffer.alloc(16 * 1024 * 1024));
    const zipped = await startUpstream('green', (_req, res) => {
      res.setHeader('content-encoding', 'gzip');
      res.end(bomb);
      return true;
    });
    try {
      const r = await runHttpGate(
        { requests: [req('/', { body: 'welcome' }, { headers: { 'accept-encoding': 'gzip' } })], timeout: 10_000 },
        ctx(`http://${zipped.address}`),
      );
      assert.equal(r.outcome, 'failed', r.summary);
      const [request] = r.details.requests as { bodyTruncatedAt?: number }[];
      assert.equal(request?.bodyTruncatedAt, MAX_BODY_BYTES);
      const inflated = await decode(bomb, 'gzip');
      assert.equal(inflated.truncated, true);
      assert.equal(inflated.body.length, MAX_BODY_BYTES);
    } finally {
      await zipped.close();
    }
  });

  test('the preview token never appears in a result, even when the version echoes it back', async () => {
    const echo = await startUpstream('green', (req, res) => {
      res.statusCode = 500;
      res.end(`you sent ${String(req.headers['x-cutover-preview'])}`);
      return true;
    });
    try {
      const r = await runHttpGate({ requests: [req('/', { status: 200, body: 'ok' })], timeout: 5000 }, ctx(`http://${echo.address}`));
      assert.equal(r.outcome, 'failed');
      const text = JSON.stringify(r);
      assert.ok(!text.includes(TOKEN), text);
      assert.match(text, /you sent \[preview token\]/);
    } finally {
      await echo.close();
    }
  });
});

describe('http gate through the real router', () => {
  let blue: Upstream;
  let green: Upstream;
  let router: Router;
  let port: number;
  const greenHeaders: http.IncomingHttpHeaders[] = [];

  before(async () => {
    blue = await startUpstream('blue');
    green = await startUpstream('green', (req) => {
      greenHeaders.push(req.headers);
      return false;
    });
    port = await freePort();
    const opts = testRouterOptions(port);
    router = new Router(opts);
    await router.listen();
    router.setHealth(blue.address, true);
    router.setHealth(green.address, true);
    router.apply({
      service: 'web',
      generation: 2,
      live: 'blue',
      weights: { blue: 100, green: 0 },
      slots: { blue: { version: 'v1', targets: [blue.address] }, green: { version: 'v2', targets: [green.address] } },
      preview: { slot: 'green', token: TOKEN },
    });
  });
  after(async () => {
    await router.close();
    await blue.close();
    await green.close();
  });

  test('the suite reaches the idle slot through the preview route while users still reach the live one', async () => {
    const expectGreen = [
      req('/', { status: 200, headers: { 'x-slot': 'green' }, body: 'green' }),
      req('/other', { headers: { 'x-slot': 'green' } }),
    ];
    const r = await runHttpGate({ requests: expectGreen, timeout: 5000 }, ctx(`http://127.0.0.1:${port}`));
    assert.equal(r.outcome, 'passed', r.summary);
    assert.equal(greenHeaders.length, 2);
    assert.equal(greenHeaders[0]?.['x-cutover-preview'], undefined, 'the router keeps the token from the upstream');

    const wrong = await runHttpGate(
      { requests: expectGreen.slice(0, 1), timeout: 5000 },
      ctx(`http://127.0.0.1:${port}`, { previewToken: 'not-the-token' }),
    );
    assert.equal(wrong.outcome, 'failed');
    assert.deepEqual(
      (wrong.details.failures as { message: string }[]).map((f) => f.message),
      ['GET /: expected header x-slot: "green", got "blue"', 'GET /: expected the body to contain "green", got "blue"'],
    );
  });
});
