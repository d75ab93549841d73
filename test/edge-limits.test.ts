// limits.maxRequestBody: a body over the limit gets 413 and never reaches the upstream whole, over
// HTTP/1.1 (Content-Length or chunked) on a plain listener and over HTTP/2 on a TLS one.
import assert from 'node:assert/strict';
import http from 'node:http';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/load.ts';
import { Router } from '../src/router/router.ts';
import { h2Connect, h2Request, liveSpec, startEdge } from './edge-helpers.ts';
import { startUpstream, testRouterOptions, type Upstream } from './helpers.ts';
import { makeCa, type TestCa, makeCert } from './tls.ts';

const LIMIT = 1000;

function post(port: number, body: string, chunked: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': Buffer.byteLength(body) };
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/echo', headers, agent: false }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    if (chunked) for (let i = 0; i < body.length; i += 100) req.write(body.slice(i, i + 100));
    else req.write(body);
    req.end();
  });
}

describe('limits.maxRequestBody', () => {
  let up: Upstream;
  let received: number[];
  let ca: TestCa;

  before(async () => {
    received = [];
    ca = makeCa();
    up = await startUpstream('blue', (req, res) => {
      let n = 0;
      req.on('data', (d) => (n += d.length));
      req.on('end', () => {
        received.push(n);
        res.end(`got ${n}`);
      });
      return true;
    });
  });

  after(async () => {
    await up.close();
    rmSync(ca.dir, { recursive: true, force: true });
  });

  it('is written as bytes or with a unit', () => {
    const c = parseConfig(
      'services:\n  web:\n    listen: 127.0.0.1:8080\n    limits: { maxRequestBody: 10MiB }\n    provider: { command: x }\n',
      '/srv/c.yaml',
    );
    assert.equal(c.services.web?.limits.maxRequestBody, 10 * 1024 * 1024);
  });

  it('a plain HTTP/1.1 listener answers 413 to a Content-Length or chunked body over the limit', async () => {
    const router = new Router(testRouterOptions(0, { maxRequestBody: LIMIT }));
    router.setHealth(up.address, true);
    router.apply(liveSpec('web', [up.address], [], 'blue', 1));
    const { port } = await router.listen();
    try {
      assert.deepEqual(await post(port, 'x'.repeat(LIMIT), false), { status: 200, body: `got ${LIMIT}` });
      const before = received.length;
      const big = await post(port, 'x'.repeat(LIMIT + 1), false);
      assert.equal(big.status, 413);
      assert.match(big.body, /larger than 1000 bytes/);
      assert.equal(received.length, before, 'the upstream never saw it');
      const chunked = await post(port, 'y'.repeat(LIMIT * 3), true).catch((err) => ({ status: -1, body: String(err) }));
      assert.equal(chunked.status, 413, chunked.body);
      assert.ok(
        received.every((n) => n <= LIMIT),
        `upstream got ${received.join(', ')}`,
      );
    } finally {
      await router.close();
    }
  });

  it('an HTTP/2 stream over the limit gets 413, with or without a content-length', async () => {
    const cert = makeCert(ca, ['app.test'], 'app');
    const edge = await startEdge([
      {
        name: 'app',
        edge: { hosts: ['app.test'], stripPrefix: true, tls: { certificate: cert.cert, key: cert.key } },
        blue: [up.address],
        router: { maxRequestBody: LIMIT },
      },
    ]);
    try {
      const s = await h2Connect(edge.port, 'app.test', ca.pem);
      assert.equal(
        (await h2Request(s, '/echo', { ':method': 'POST', 'content-length': String(LIMIT + 1) }, 'x'.repeat(LIMIT + 1))).status,
        413,
      );
      assert.equal((await h2Request(s, '/echo', { ':method': 'POST' }, 'x'.repeat(LIMIT * 3))).status, 413);
      assert.equal((await h2Request(s, '/echo', { ':method': 'POST' }, 'x'.repeat(10))).body, 'got 10');
      s.close();
    } finally {
      await edge.close();
    }
  });
});
