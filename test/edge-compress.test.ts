// compression: answers the upstream sent as identity, of a listed type and big enough, reach a client
// that accepts br, zstd or gzip compressed (and decode to the same bytes), over plain HTTP/1.1 (keep-
// alive goes on after them; Content-Length and chunked answers) and over TLS with HTTP/2; already-encoded, small, image and event-stream
// answers pass as they are, and with compression off (the default) nothing is compressed.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { parseConfig } from '../src/config/load.ts';
import { openCompressors } from '../src/router/compress.ts';
import { Router } from '../src/router/router.ts';
import { routerOptions } from '../src/traffic/router-options.ts';
import { h2Connect, liveSpec, startEdge } from './edge-helpers.ts';
import { startUpstream, testRouterOptions, type Upstream, waitFor } from './helpers.ts';
import { makeCa, makeCert, type TestCa } from './tls.ts';

const PAGE = `<!doctype html>${'<p>cutover compresses this paragraph nicely.</p>\n'.repeat(200)}`;
const decode: Record<string, (b: Buffer) => Buffer> = {
  br: zlib.brotliDecompressSync,
  gzip: zlib.gunzipSync,
  zstd: zlib.zstdDecompressSync,
};

interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function get(agent: http.Agent, port: number, path: string, accept: string | null): Promise<Got> {
  return new Promise((resolve, reject) => {
    const headers = accept === null ? {} : { 'accept-encoding': accept };
    const req = http.request({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end();
  });
}

function h2Get(port: number, ca: string, path: string, accept: string): Promise<Got> {
  return h2Connect(port, 'app.test', ca).then(
    (s) =>
      new Promise<Got>((resolve, reject) => {
        const req = s.request({ ':path': path, 'accept-encoding': accept });
        const got: Got = { status: 0, headers: {}, body: Buffer.alloc(0) };
        const parts: Buffer[] = [];
        req.on('response', (h) => {
          got.status = Number(h[':status']);
          got.headers = h;
        });
        req.on('data', (d: Buffer) => parts.push(d));
        req.on('end', () => {
          got.body = Buffer.concat(parts);
          s.close();
          resolve(got);
        });
        req.on('error', reject);
      }),
  );
}

describe('response compression', () => {
  let up: Upstream;
  let ca: TestCa;
  const opts = () =>
    routerOptions(
      parseConfig(
        'services:\n  web:\n    listen: 127.0.0.1:8080\n    provider: { command: x }\n    compression: { enabled: true }\n',
        '/srv/c.yaml',
      ).services.web!,
    ).compression;

  before(async () => {
    ca = makeCa();
    up = await startUpstream('blue', (req, res) => {
      if (req.url === '/page')
        res
          .writeHead(200, { 'content-type': 'text/html; charset=utf-8', etag: '"v1"', 'content-length': Buffer.byteLength(PAGE) })
          .end(PAGE);
      else if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(JSON.stringify({ a: PAGE.slice(0, 2000) }));
        setTimeout(() => res.end(JSON.stringify({ b: PAGE.slice(2000, 4000) })), 20);
      } else if (req.url === '/small') res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 4 }).end('tiny');
      else if (req.url === '/png') res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.alloc(4000, 7));
      else if (req.url === '/forever') {
        // A stream that never ends on its own: text every 20 ms until the router hangs up.
        res.writeHead(200, { 'content-type': 'text/plain' });
        const t = setInterval(() => res.write(PAGE.slice(0, 3000)), 20);
        res.on('close', () => clearInterval(t));
      } else if (req.url === '/gz')
        res.writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip' }).end(zlib.gzipSync(PAGE));
      else return false;
      return true;
    });
  });

  after(async () => {
    await up.close();
    rmSync(ca.dir, { recursive: true, force: true });
  });

  it('plain HTTP/1.1: br, zstd and gzip as accepted, the same bytes decoded, and keep-alive goes on', async () => {
    const router = new Router(testRouterOptions(0, { compression: opts() }));
    router.setHealth(up.address, true);
    router.apply(liveSpec('web', [up.address], [], 'blue', 1));
    const { port } = await router.listen();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (const [accept, enc] of [
        ['gzip, deflate, br', 'br'],
        ['zstd, gzip;q=0.5', 'zstd'],
        ['gzip', 'gzip'],
      ] as const) {
        const r = await get(agent, port, '/page', accept);
        assert.equal(r.status, 200);
        assert.equal(r.headers['content-encoding'], enc);
        assert.equal(r.headers.etag, 'W/"v1"');
        assert.equal(r.headers.vary, 'accept-encoding');
        assert.ok(r.body.length < PAGE.length / 5, `${enc}: ${r.body.length} bytes`);
        assert.equal(decode[enc]!(r.body).toString(), PAGE);
      }
      for (const [path, accept] of [
        ['/page', null],
        ['/page', 'identity'],
        ['/small', 'gzip'],
        ['/png', 'gzip'],
      ] as const) {
        const r = await get(agent, port, path, accept);
        assert.equal(r.headers['content-encoding'], undefined, `${path} ${accept}`);
      }
      const chunked = await get(agent, port, '/chunked', 'gzip');
      assert.equal(chunked.headers['content-encoding'], 'gzip', 'a chunked answer too');
      assert.equal(
        zlib.gunzipSync(chunked.body).toString(),
        JSON.stringify({ a: PAGE.slice(0, 2000) }) + JSON.stringify({ b: PAGE.slice(2000, 4000) }),
      );
      const gz = await get(agent, port, '/gz', 'br');
      assert.equal(gz.headers['content-encoding'], 'gzip', 'the upstream’s own encoding is kept');
      assert.equal(zlib.gunzipSync(gz.body).toString(), PAGE);
      assert.equal(up.userConnections, 1, 'one keep-alive connection carried them all');
    } finally {
      agent.destroy();
      await router.close();
    }
  });

  it('a client that goes away in the middle of a compressed answer leaves no compressor behind', async () => {
    const router = new Router(testRouterOptions(0, { compression: opts() }));
    router.setHealth(up.address, true);
    router.apply(liveSpec('web', [up.address], [], 'blue', 1));
    const { port } = await router.listen();
    try {
      const before = openCompressors();
      const sockets = await Promise.all(
        Array.from({ length: 5 }, async () => {
          const s = net.connect(port, '127.0.0.1');
          let got = '';
          s.on('data', (d: Buffer) => (got += d.toString('latin1')));
          s.write('GET /forever HTTP/1.1\r\nhost: x\r\naccept-encoding: br\r\n\r\n');
          // The compressed head is out: the answer is under way (br may hold its first bytes a while).
          await waitFor('the compressed head', () => /content-encoding: br/i.test(got));
          return s;
        }),
      );
      assert.equal(openCompressors(), before + 5, 'one compressor per answer in progress');
      for (const s of sockets) s.destroy();
      await waitFor('the compressors freed', () => openCompressors() === before, 5000);
    } finally {
      await router.close();
    }
  });

  it('HTTP/2 over TLS: Content-Length and chunked answers compressed; off by default', async () => {
    const cert = makeCert(ca, ['app.test'], 'app');
    const edge = (compression: ReturnType<typeof opts>) =>
      startEdge([
        {
          name: 'app',
          edge: { hosts: ['app.test'], stripPrefix: true, tls: { certificate: cert.cert, key: cert.key } },
          blue: [up.address],
          router: compression === undefined ? {} : { compression },
        },
      ]);
    const on = await edge(opts());
    try {
      const page = await h2Get(on.port, ca.pem, '/page', 'br');
      assert.deepEqual([page.status, page.headers['content-encoding'], page.headers['content-length']], [200, 'br', undefined]);
      assert.equal(zlib.brotliDecompressSync(page.body).toString(), PAGE);
      const chunked = await h2Get(on.port, ca.pem, '/chunked', 'gzip');
      assert.equal(chunked.headers['content-encoding'], 'gzip');
      assert.equal(
        zlib.gunzipSync(chunked.body).toString(),
        JSON.stringify({ a: PAGE.slice(0, 2000) }) + JSON.stringify({ b: PAGE.slice(2000, 4000) }),
      );
      assert.equal((await h2Get(on.port, ca.pem, '/png', 'gzip')).headers['content-encoding'], undefined);
    } finally {
      await on.close();
    }
    assert.equal(
      routerOptions(parseConfig('services:\n  web:\n    listen: 127.0.0.1:8080\n    provider: { command: x }\n', '/c.yaml').services.web!)
        .compression,
      undefined,
    );
    const off = await edge(undefined);
    try {
      const page = await h2Get(off.port, ca.pem, '/page', 'br, gzip');
      assert.equal(page.headers['content-encoding'], undefined);
      assert.equal(page.body.toString(), PAGE);
    } finally {
      await off.close();
    }
  });
});
