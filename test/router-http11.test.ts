// The HTTP/1.1 points a desync corpus and a security review found (issue 17): what the upstream
// receives, or that it receives nothing, for each. A recording upstream (node:http) behind a Router.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Router } from '../src/router/router.ts';
import { freePort, rawExchange, testRouterOptions, waitFor } from './helpers.ts';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  raw: string[];
  body: string;
  trailers: Record<string, string>;
}

async function recordingUpstream(): Promise<{ address: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  // A request is recorded as soon as its head arrives: a head the router should have held counts.
  const server = http.createServer((req, res) => {
    const s: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw: req.rawHeaders, body: '', trailers: {} };
    seen.push(s);
    req.setEncoding('latin1');
    req.on('data', (c) => (s.body += c));
    req.on('end', () => {
      s.trailers = req.trailers as Record<string, string>;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Sends `parts` as separate writes a little apart, and returns everything the router answered. */
function sendParts(port: number, parts: string[], ms = 2000): Promise<{ out: string; took: number }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const started = Date.now();
    let out = '';
    const t = setTimeout(() => s.destroy(), ms);
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('close', () => {
      clearTimeout(t);
      resolve({ out, took: Date.now() - started });
    });
    s.on('error', () => {});
    let i = 0;
    const next = (): void => {
      if (i >= parts.length || s.destroyed) return;
      s.write(parts[i++] as string);
      setTimeout(next, 30);
    };
    s.once('connect', next);
  });
}

describe('the router applies RFC 9112 before anything reaches the upstream', () => {
  let up: Awaited<ReturnType<typeof recordingUpstream>>;
  let router: Router;
  let port: number;

  before(async () => {
    up = await recordingUpstream();
    port = await freePort();
    router = new Router(testRouterOptions(port, { bodyTimeout: 500, headersTimeout: 3000 }));
    await router.listen();
    router.apply({
      service: 'web',
      generation: 2,
      live: 'blue',
      weights: { blue: 100, green: 0 },
      slots: { blue: { version: 'v1', targets: [up.address] }, green: { version: null, targets: [] } },
    });
    router.setHealth(up.address, true);
  });
  after(async () => {
    await router.close();
    await up.close();
  });

  test('CONNECT is refused with 501 and never reaches the upstream; the next client is served normally', async () => {
    const before = up.seen.length;
    const out = await rawExchange(port, 'CONNECT upstream.test:443 HTTP/1.1\r\nHost: upstream.test:443\r\nContent-Length: 5\r\n\r\nGET /');
    assert.match(out, /^HTTP\/1\.1 501 /);
    assert.match(await rawExchange(port, 'GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /);
    assert.deepEqual(
      up.seen.slice(before).map((s) => `${s.method} ${s.url}`),
      ['GET /after'],
    );
  });

  test('the HTTP/2 preface is refused at once, not held until a timeout', async () => {
    const before = up.seen.length;
    const { out, took } = await sendParts(port, ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n']);
    assert.match(out, /^HTTP\/1\.1 505 /);
    assert.ok(took < 1500, `answered in ${took} ms`);
    assert.equal(up.seen.length, before);
  });

  test('a Host holding two authorities gets 400', async () => {
    const before = up.seen.length;
    assert.match(await rawExchange(port, 'GET / HTTP/1.1\r\nHost: a.test, b.test\r\n\r\n'), /^HTTP\/1\.1 400 .*Host/s);
    assert.match(await rawExchange(port, 'GET / HTTP/1.1\r\nHost: a.test b.test\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.equal(up.seen.length, before);
  });

  test('an absolute-form target reaches the upstream in origin-form, with its authority as the only Host', async () => {
    const before = up.seen.length;
    const out = await rawExchange(port, 'GET http://other.test:8080/x?y=1 HTTP/1.1\r\nHost: probe.test\r\nConnection: close\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 200 /);
    const seen = up.seen.slice(before);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.url, '/x?y=1');
    assert.equal(seen[0]!.headers.host, 'other.test:8080');
    assert.equal(seen[0]!.raw.filter((h) => h.toLowerCase() === 'host').length, 1);
    assert.match(await rawExchange(port, 'GET http://user@other.test/ HTTP/1.1\r\nHost: a\r\n\r\n'), /^HTTP\/1\.1 400 /);
  });

  test('Connection: host does not strip Host from what the upstream gets', async () => {
    const before = up.seen.length;
    const out = await rawExchange(port, 'GET /h HTTP/1.1\r\nHost: keep.test\r\nConnection: host, close\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 200 /);
    assert.equal(up.seen.slice(before)[0]?.headers.host, 'keep.test');
  });

  const badBodies: [string, string[]][] = [
    ['text after the size', ['POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', '2 erfrferferf\r\nab\r\n0\r\n\r\n']],
    ['an empty extension', ['POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', '2;\r\nab\r\n0\r\n\r\n']],
    [
      'a quoted extension spanning a line',
      ['POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', '2;x="\r\nAB\r\n0\r\n\r\n'],
    ],
    ['a NUL in an extension', ['POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', '2;x\x00\r\nab\r\n0\r\n\r\n']],
    [
      'a request line as a trailer',
      ['POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', '0\r\nGET /admin HTTP/1.1\r\n\r\n'],
    ],
    ['a bad size after a good chunk', ['POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n', 'zz\r\n']],
  ];
  for (const [name, parts] of badBodies) {
    test(`a chunked body with ${name}, sent after its head, is refused with 400 and the upstream never sees the head`, async () => {
      const before = up.seen.length;
      const { out } = await sendParts(port, parts);
      assert.match(out, /^HTTP\/1\.1 400 .*chunked/s);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(up.seen.length, before);
    });
  }

  test('trailers reach the upstream as fields, without the framing and routing fields', async () => {
    const before = up.seen.length;
    const { out } = await sendParts(port, [
      'POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3;ext="a;b"\r\nabc\r\n',
      '0\r\nX-Sum: 7\r\nContent-Length: 99\r\nHost: evil.test\r\n\r\n',
    ]);
    assert.match(out, /^HTTP\/1\.1 200 /);
    const seen = up.seen.slice(before);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.body, 'abc');
    assert.deepEqual(seen[0]!.trailers, { 'x-sum': '7' });
  });

  test('a head with bare LF line endings gets 400 at once', async () => {
    const before = up.seen.length;
    const { out, took } = await sendParts(port, ['GET / HTTP/1.1\nHost: a\n\n']);
    assert.match(out, /^HTTP\/1\.1 400 .*bare LF/s);
    assert.ok(took < 1500, `answered in ${took} ms`);
    assert.equal(up.seen.length, before);
  });

  test('a body that stops arriving gets 408 at the body timeout and a clean close, and the upstream gets nothing', async () => {
    const before = up.seen.length;
    const { out, took } = await sendParts(port, ['POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nx'], 5000);
    assert.match(out, /^HTTP\/1\.1 408 .*body timeout/s);
    assert.ok(took >= 400 && took < 2500, `cut after ${took} ms (body timeout 500 ms)`);
    assert.equal(up.seen.length, before);
  });

  test('a body that keeps arriving slowly is not cut: the body timeout restarts on progress', async () => {
    const parts = ['POST /trickle HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nConnection: close\r\n\r\n'];
    for (const c of 'abcdef') parts.push(c);
    // 7 writes 30 ms apart: each gap is far below the 500 ms body timeout.
    const { out } = await sendParts(port, parts, 5000);
    assert.match(out, /^HTTP\/1\.1 200 /);
    assert.equal(up.seen.at(-1)?.body, 'abcdef');
  });

  test('an upstream failure answers a generic page without the upstream address', async () => {
    const dead = await freePort();
    router.apply({
      service: 'web',
      generation: 3,
      live: 'green',
      weights: { blue: 0, green: 100 },
      slots: { blue: { version: 'v1', targets: [up.address] }, green: { version: 'v2', targets: [`127.0.0.1:${dead}`] } },
    });
    router.setHealth(`127.0.0.1:${dead}`, true);
    try {
      const out = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.match(out, /^HTTP\/1\.1 502 /);
      assert.doesNotMatch(out, new RegExp(`127\\.0\\.0\\.1|${dead}|ECONNREFUSED`));
    } finally {
      router.apply({
        service: 'web',
        generation: 4,
        live: 'blue',
        weights: { blue: 100, green: 0 },
        slots: { blue: { version: 'v1', targets: [up.address] }, green: { version: null, targets: [] } },
      });
    }
  });
});

describe('forwarding headers and connection limits', () => {
  let up: Awaited<ReturnType<typeof recordingUpstream>>;
  const routers: Router[] = [];

  async function start(extra: Parameters<typeof testRouterOptions>[1]): Promise<number> {
    const port = await freePort();
    const r = new Router(testRouterOptions(port, extra));
    await r.listen();
    r.apply({
      service: 'web',
      generation: 2,
      live: 'blue',
      weights: { blue: 100, green: 0 },
      slots: { blue: { version: 'v1', targets: [up.address] }, green: { version: null, targets: [] } },
    });
    r.setHealth(up.address, true);
    routers.push(r);
    return port;
  }

  before(async () => {
    up = await recordingUpstream();
  });
  after(async () => {
    for (const r of routers) await r.close();
    await up.close();
  });

  const claimed =
    'GET /f HTTP/1.1\r\nHost: shop.test\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: public.test\r\nForwarded: for=10.0.0.9;proto=https\r\nX-Real-IP: 10.0.0.9\r\nConnection: close\r\n\r\n';

  test('from a trusted proxy the forwarding headers are kept and appended to', async () => {
    const port = await start({ trustedProxies: ['127.0.0.0/8'] });
    assert.match(await rawExchange(port, claimed), /^HTTP\/1\.1 200 /);
    const h = up.seen.at(-1)!.headers;
    assert.equal(h['x-forwarded-for'], '10.0.0.9, 127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'https');
    assert.equal(h['x-forwarded-host'], 'public.test');
    assert.equal(h['x-real-ip'], '10.0.0.9');
    assert.equal(h.forwarded, 'for=10.0.0.9;proto=https, for=127.0.0.1;host="shop.test";proto=http');
  });

  test('from a peer outside trustedProxies the same claims are replaced by what the router saw', async () => {
    const port = await start({ trustedProxies: ['10.0.0.0/8', '::1'] });
    assert.match(await rawExchange(port, claimed), /^HTTP\/1\.1 200 /);
    const h = up.seen.at(-1)!.headers;
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], 'shop.test');
    assert.equal(h['x-real-ip'], '127.0.0.1');
    assert.equal(h.forwarded, 'for=127.0.0.1;host="shop.test";proto=http');
  });

  test('on one keep-alive connection each request gets forwarding headers for its own Host', async () => {
    const port = await start({});
    const seen = up.seen.length;
    const reqs = ['a.test', 'a.test', 'b.test', 'a.test'].map(
      (h, i) => `GET /h${i} HTTP/1.1\r\nHost: ${h}\r\n${i === 3 ? 'Connection: close\r\n' : ''}\r\n`,
    );
    const answer = await rawExchange(port, reqs.join(''));
    assert.equal(answer.match(/HTTP\/1\.1 200 /g)?.length, 4, answer);
    const hosts = up.seen.slice(seen).map((r) => [r.headers['x-forwarded-host'], r.headers.forwarded]);
    assert.deepEqual(hosts, [
      ['a.test', 'for=127.0.0.1;host="a.test";proto=http'],
      ['a.test', 'for=127.0.0.1;host="a.test";proto=http'],
      ['b.test', 'for=127.0.0.1;host="b.test";proto=http'],
      ['a.test', 'for=127.0.0.1;host="a.test";proto=http'],
    ]);
  });

  test('beyond maxConnections a new connection gets 503 and is closed; a freed place is used again', async () => {
    const port = await start({ maxConnections: 2 });
    const held = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')];
    for (const s of held) s.on('error', () => {});
    await Promise.all(held.map((s) => new Promise((r) => s.once('connect', r))));
    await waitFor('both connections accepted', () => routers.at(-1)!.metrics().connections === 2);
    assert.match(await rawExchange(port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n'), /^HTTP\/1\.1 503 .*too many connections/s);
    held[0]!.destroy();
    await waitFor('a place is free', () => routers.at(-1)!.metrics().connections === 1);
    assert.match(await rawExchange(port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /);
    held[1]!.destroy();
  });
});
