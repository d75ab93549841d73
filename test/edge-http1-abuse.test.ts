// The HTTP/1.1 abuse cases of the router tests (router-http, router-http11), again over TLS on an
// edge listener: smuggling by Content-Length/Transfer-Encoding conflicts, oversized and trickled
// heads, and bad chunk lines are refused the same way (same status, same plain cause, the upstream
// never sees the request), and the connection after a refusal is closed, not reused.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { startEdge } from './edge-helpers.ts';
import { startUpstream, type Upstream } from './helpers.ts';
import { makeCa, makeCert, type TestCa } from './tls.ts';

/** Writes `parts` over one TLS connection, 30 ms apart; what came back until the server closed, and when. */
function exchange(port: number, ca: string, parts: string[], ms = 3000): Promise<{ out: string; took: number; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'app.test', ca, ALPNProtocols: ['http/1.1'] });
    let out = '';
    let started = 0;
    let closed = false;
    const t = setTimeout(() => s.destroy(), ms);
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('end', () => (closed = true));
    s.on('close', () => {
      clearTimeout(t);
      resolve({ out, took: Date.now() - started, closed });
    });
    s.on('error', (err) => (started === 0 ? reject(err) : undefined));
    s.once('secureConnect', () => {
      started = Date.now();
      let i = 0;
      const next = (): void => {
        if (i >= parts.length || s.destroyed) return;
        s.write(parts[i++] as string);
        setTimeout(next, 30);
      };
      next();
    });
  });
}

const HEAD = 'POST /echo HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n';

describe('HTTP/1.1 abuse over TLS', () => {
  let ca: TestCa;
  let up: Upstream;
  const seen: string[] = [];
  let edge: Awaited<ReturnType<typeof startEdge>>;

  before(async () => {
    ca = makeCa();
    const cert = makeCert(ca, ['app.test'], 'app');
    up = await startUpstream('blue', (req) => {
      seen.push(`${req.method} ${req.url}`);
      return false;
    });
    edge = await startEdge([
      {
        name: 'app',
        edge: { hosts: ['app.test'], stripPrefix: true, tls: { certificate: cert.cert, key: cert.key } },
        blue: [up.address],
        router: { headersTimeout: 1000, maxHeaderBytes: 8192, maxHeaders: 50 },
      },
    ]);
  });

  after(async () => {
    await edge?.close();
    await up?.close();
    if (ca) rmSync(ca.dir, { recursive: true, force: true });
  });

  it('a good request is answered over TLS (the listener works)', async () => {
    const { out } = await exchange(edge.port, ca.pem, ['GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n']);
    assert.match(out, /^HTTP\/1\.1 200 [\s\S]*\r\n\r\nblue$/);
  });

  const refused: [string, string[], RegExp][] = [
    [
      'both Content-Length and Transfer-Encoding',
      ['POST /echo HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
      /^HTTP\/1\.1 400 .*both Content-Length and Transfer-Encoding/s,
    ],
    [
      'a Transfer-Encoding that does not end in chunked',
      ['POST /echo HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: gzip\r\n\r\n'],
      /^HTTP\/1\.1 400 /,
    ],
    [
      'chunked applied twice',
      ['POST /echo HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n'],
      /^HTTP\/1\.1 400 /,
    ],
    [
      'two different Content-Length values',
      ['POST /echo HTTP/1.1\r\nHost: app.test\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'],
      /^HTTP\/1\.1 400 /,
    ],
    [
      'a space before the colon of a header',
      ['GET / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding : chunked\r\n\r\n'],
      /^HTTP\/1\.1 400 /,
    ],
    ['obsolete line folding', ['GET / HTTP/1.1\r\nHost: app.test\r\nX-A: a\r\n b\r\n\r\n'], /^HTTP\/1\.1 400 .*folding/s],
    ['bare LF line endings', ['GET / HTTP/1.1\nHost: app.test\n\n'], /^HTTP\/1\.1 400 /],
    [
      'a Content-Length hiding a second request (smuggling)',
      [
        'POST /echo HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: app.test\r\n\r\n',
      ],
      /^HTTP\/1\.1 400 /,
    ],
    ['oversized headers', [`GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`], /^HTTP\/1\.1 431 /],
    [
      'too many header fields',
      [`GET / HTTP/1.1\r\nHost: app.test\r\n${Array.from({ length: 60 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\n\r\n`],
      /^HTTP\/1\.1 431 /,
    ],
  ];
  for (const [name, parts, expected] of refused) {
    it(`a request with ${name} is refused once, with a plain cause, and never reaches the upstream`, async () => {
      const before = seen.length;
      const { out, closed } = await exchange(edge.port, ca.pem, parts);
      assert.match(out, expected);
      assert.match(out, /x-cutover-error: 1/i);
      assert.equal((out.match(/HTTP\/1\.1 /g) ?? []).length, 1, 'one answer: nothing behind the refused request was run');
      assert.ok(closed, 'the connection is closed after the refusal');
      assert.deepEqual(seen.slice(before), [], 'the upstream saw nothing');
    });
  }

  const badChunks: [string, string][] = [
    ['text after the size', '2 erfrferferf\r\nab\r\n0\r\n\r\n'],
    ['an empty extension', '2;\r\nab\r\n0\r\n\r\n'],
    ['a quoted extension spanning a line', '2;x="\r\nAB\r\n0\r\n\r\n'],
    ['a NUL in an extension', '2;x\x00\r\nab\r\n0\r\n\r\n'],
    ['a request line as a trailer', '0\r\nGET /admin HTTP/1.1\r\n\r\n'],
    ['a bad size after a good chunk', '3\r\nabc\r\nzz\r\n'],
  ];
  for (const [name, body] of badChunks) {
    it(`a chunked body with ${name}, sent after its head, gets 400 and the upstream never sees the head`, async () => {
      const before = seen.length;
      const { out } = await exchange(edge.port, ca.pem, [HEAD, body]);
      assert.match(out, /^HTTP\/1\.1 400 .*chunked/s);
      // A head passed on by mistake would reach the upstream a moment after the refusal.
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(seen.slice(before), []);
    });
  }

  it('a head trickled byte by byte is cut at the headers timeout with 408', async () => {
    const text = `GET / HTTP/1.1\r\nHost: app.test\r\nX-Slow: ${'a'.repeat(150)}`;
    const { out, took } = await exchange(edge.port, ca.pem, text.split(''), 6000);
    assert.match(out, /^HTTP\/1\.1 408 /);
    assert.ok(took >= 900 && took < 3000, `cut after ${took} ms (headers timeout 1 s)`);
  });
});
