// Request bodies at the edge: a body trickled past timeouts.body gets 408 and its upstream connection
// is let go, over TLS with HTTP/1.1 and with HTTP/2; with buffer.requests a body is read whole before
// any upstream connection is taken (a slow client holds none), and one over buffer.maxMemory gets 413.
import assert from 'node:assert/strict';
import http from 'node:http';
import type http2 from 'node:http2';
import net from 'node:net';
import { rmSync } from 'node:fs';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/load.ts';
import type { ConfigError } from '../src/errors.ts';
import { Router } from '../src/router/router.ts';
import { routerOptions } from '../src/traffic/router-options.ts';
import { h2Connect, liveSpec, startEdge } from './edge-helpers.ts';
import { startUpstream, testRouterOptions, type Upstream, waitFor } from './helpers.ts';
import { makeCa, makeCert, type TestCa, type TestCert } from './tls.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends a head saying `length` bytes, then `parts` with `gap` ms between them; what came back until close. */
function trickle(socket: net.Socket, length: number, parts: string[], gap: number): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    socket.on('data', (d) => (out += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => resolve(out));
    socket.write(`POST /upload HTTP/1.1\r\nhost: app.test\r\ncontent-length: ${length}\r\nconnection: close\r\n\r\n`);
    let i = 0;
    const next = (): void => {
      if (i >= parts.length || socket.destroyed) return;
      socket.write(parts[i++] as string);
      setTimeout(next, gap);
    };
    next();
    setTimeout(() => socket.destroy(), 10_000).unref();
  });
}

/** An HTTP/2 POST whose body goes out in `parts`, `gap` ms apart, and never ends unless `end`. */
function h2Trickle(s: http2.ClientHttp2Session, parts: string[], gap: number, end: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = s.request({ ':method': 'POST', ':path': '/upload' });
    let status = 0;
    let body = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.setEncoding('utf8');
    req.on('data', (d) => (body += d));
    req.on('close', () => resolve({ status, body }));
    req.on('error', reject);
    let i = 0;
    const next = (): void => {
      if (req.closed) return;
      if (i < parts.length) {
        req.write(parts[i++] as string);
        setTimeout(next, gap);
      } else if (end) req.end();
    };
    next();
  });
}

describe('request bodies at the edge', () => {
  let ca: TestCa;
  let cert: TestCert;
  let up: Upstream;
  /** Upstream requests that ended before their body did (the router let their connection go). */
  let aborted: number;

  before(async () => {
    ca = makeCa();
    cert = makeCert(ca, ['app.test'], 'app');
    aborted = 0;
    up = await startUpstream('blue', (req, res) => {
      let n = 0;
      let done = false;
      req.on('data', (d) => (n += d.length));
      req.on('end', () => {
        done = true;
        res.end(`got ${n}`);
      });
      req.on('close', () => {
        if (!done) aborted++;
      });
      return true;
    });
  });

  after(async () => {
    await up.close();
    rmSync(ca.dir, { recursive: true, force: true });
  });

  const edgeWith = (router: Record<string, unknown>) =>
    startEdge([
      {
        name: 'app',
        edge: { hosts: ['app.test'], stripPrefix: true, tls: { certificate: cert.cert, key: cert.key } },
        blue: [up.address],
        router,
      },
    ]);

  it('a body trickled past the body timeout gets 408 over TLS (HTTP/1.1 and HTTP/2), and the upstream is let go', async () => {
    const edge = await edgeWith({ bodyTimeout: 400 });
    try {
      const before = aborted;
      // Progress within the timeout keeps it going; then the client stalls.
      const socket = tls.connect({ host: '127.0.0.1', port: edge.port, servername: 'app.test', ca: ca.pem, ALPNProtocols: ['http/1.1'] });
      await new Promise((r) => socket.once('secureConnect', r));
      const started = Date.now();
      // Over 16 KiB, so the head and the first bytes went upstream (a smaller body is held until whole).
      const out = await trickle(socket, 100_000, ['x'.repeat(20_000), 'b', 'c', 'd'], 200);
      assert.match(out, /^HTTP\/1\.1 408 /);
      assert.match(out, /request body not received within the body timeout/);
      assert.ok(Date.now() - started >= 900, `408 after ${Date.now() - started} ms, though bytes came every 200 ms for 600 ms`);
      await waitFor('the upstream request cut', () => aborted === before + 1, 5000);
      const s = await h2Connect(edge.port, 'app.test', ca.pem);
      try {
        const r = await h2Trickle(s, ['a', 'b', 'c'], 200, false);
        assert.equal(r.status, 408);
        assert.match(r.body, /body timeout/);
        await waitFor('the upstream request cut', () => aborted === before + 2, 5000);
      } finally {
        s.close();
      }
    } finally {
      await edge.close();
    }
  });

  it('with buffer.requests a slow body takes no upstream connection until it is whole (HTTP/1.1 and HTTP/2)', async () => {
    const router = new Router(testRouterOptions(0, { bufferRequests: true, maxRequestBody: 100_000 }));
    router.setHealth(up.address, true);
    router.apply(liveSpec('web', [up.address], [], 'blue', 1));
    const { port } = await router.listen();
    const edge = await edgeWith({ bufferRequests: true, maxRequestBody: 100_000 });
    try {
      const conns = up.connections;
      const socket = net.connect(port, '127.0.0.1');
      const answer = trickle(socket, 40_000, ['x'.repeat(30_000), '', '', 'y'.repeat(10_000)], 150);
      await sleep(300);
      assert.equal(up.connections, conns, 'no upstream connection while the body is still coming');
      assert.match(await answer.catch(String), /got 40000/);
      socket.destroy();
      const s = await h2Connect(edge.port, 'app.test', ca.pem);
      try {
        const before = up.connections;
        const r = h2Trickle(s, ['x'.repeat(20_000), 'y'.repeat(20_000)], 300, true);
        await sleep(150);
        assert.equal(up.connections, before, 'no upstream connection while the HTTP/2 body is still coming');
        assert.deepEqual(await r, { status: 200, body: 'got 40000' });
      } finally {
        s.close();
      }
    } finally {
      await router.close();
      await edge.close();
    }
  });

  it('a buffered body over buffer.maxMemory gets 413 and reaches no upstream', async () => {
    const cfg = parseConfig(
      'services:\n  web:\n    listen: 127.0.0.1:8080\n    provider: { command: x }\n    buffer: { requests: true, maxMemory: 2KiB }\n',
      '/srv/c.yaml',
    );
    const opts = routerOptions(cfg.services.web!);
    assert.equal(opts.maxRequestBody, 2048);
    const router = new Router({ ...testRouterOptions(0), bufferRequests: opts.bufferRequests, maxRequestBody: opts.maxRequestBody });
    router.setHealth(up.address, true);
    router.apply(liveSpec('web', [up.address], [], 'blue', 1));
    const { port } = await router.listen();
    try {
      const conns = up.connections;
      const status = (headers: http.OutgoingHttpHeaders, body: string) =>
        new Promise<number>((resolve) => {
          const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers, agent: false }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', () => resolve(-1));
          req.end(body);
        });
      assert.equal(await status({ 'content-length': 3000 }, 'x'.repeat(3000)), 413);
      assert.equal(await status({ 'transfer-encoding': 'chunked' }, 'x'.repeat(3000)), 413);
      assert.equal(up.connections, conns);
    } finally {
      await router.close();
    }
  });

  it('validate refuses limits.maxRequestBody over buffer.maxMemory', () => {
    let err: ConfigError | null = null;
    try {
      parseConfig(
        'services:\n  web:\n    listen: 127.0.0.1:8080\n    provider: { command: x }\n    limits: { maxRequestBody: 10MB }\n    buffer: { requests: true, maxMemory: 1MB }\n',
        '/srv/c.yaml',
      );
    } catch (e) {
      err = e as ConfigError;
    }
    assert.ok(err !== null);
    assert.match(err.problems.map((p) => `${p.path}: ${p.message}`).join('\n'), /services\.web\.buffer\.maxMemory: limits\.maxRequestBody/);
  });
});
