// What the router answers to hostile or broken HTTP, and to upstreams that fail: a clear status with a
// short plain-text cause, never a hang, never a smuggled request.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { rawExchange, startDaemon, startUpstream, type Daemon, type Upstream } from './helpers.ts';

describe('the router facing hostile clients and failing upstreams', () => {
  let d: Daemon;
  let blue: Upstream;
  let green: Upstream;
  const seen: string[] = [];

  before(async () => {
    blue = await startUpstream('blue', (req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url === '/hang') return; // never answers
      if (req.url === '/headers') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(req.headers));
        return;
      }
      if (req.url === '/echo') {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (c) => (body += c));
        req.on('end', () => res.end(`got:${body}`));
        return;
      }
      return false;
    });
    green = await startUpstream('green');
    d = await startDaemon([blue.address], [green.address], {
      service: { timeouts: { headers: '1s', connect: '500ms', response: '1s' }, limits: { maxHeaderBytes: 8192, maxHeaders: 50 } },
    });
  });
  after(async () => {
    await d.stop();
    await blue.close();
    await green.close();
  });

  const refused: [string, string, RegExp][] = [
    [
      'both Content-Length and Transfer-Encoding',
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      /^HTTP\/1\.1 400 .*both Content-Length and Transfer-Encoding/s,
    ],
    [
      'a Transfer-Encoding that does not end in chunked',
      'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n',
      /^HTTP\/1\.1 400 /,
    ],
    ['chunked applied twice', 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n', /^HTTP\/1\.1 400 /],
    [
      'two different Content-Length values',
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
      /^HTTP\/1\.1 400 /,
    ],
    ['a Content-Length that is not a number', 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4x\r\n\r\nabcd', /^HTTP\/1\.1 400 /],
    ['a space before the colon of a header', 'GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['obsolete line folding', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n', /^HTTP\/1\.1 400 .*folding/s],
    ['a missing Host in HTTP/1.1', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', /^HTTP\/1\.1 400 .*Host/s],
    ['a control character in a header value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['an unsupported HTTP version', 'GET / HTTP/2.0\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 505 /],
    ['a malformed request line', 'GET /\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 400 /],
    [
      'a chunked body with a bad chunk size',
      'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
      /^HTTP\/1\.1 400 .*chunked/s,
    ],
  ];
  for (const [name, payload, expected] of refused) {
    test(`a request with ${name} is refused and never reaches the upstream`, async () => {
      const before = seen.length;
      const out = await rawExchange(d.port, payload);
      assert.match(out, expected);
      assert.match(out, /x-cutover-error: 1/i);
      assert.equal(seen.slice(before).filter((s) => s !== 'POST /echo').length, 0);
      if (!name.startsWith('a chunked body')) assert.equal(seen.length, before, 'the upstream saw nothing');
    });
  }

  test('a smuggling attempt (Content-Length hiding a second request) is refused whole', async () => {
    const before = seen.length;
    const out = await rawExchange(
      d.port,
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    assert.match(out, /^HTTP\/1\.1 400 /);
    assert.equal((out.match(/HTTP\/1\.1/g) ?? []).length, 1, 'only one answer: the hidden request was not run');
    assert.equal(seen.length, before);
  });

  test('oversized request headers get 431', async () => {
    const out = await rawExchange(d.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`);
    assert.match(out, /^HTTP\/1\.1 431 /);
  });

  test('too many header fields get 431', async () => {
    const many = Array.from({ length: 60 }, (_, i) => `X-H${i}: v`).join('\r\n');
    const out = await rawExchange(d.port, `GET / HTTP/1.1\r\nHost: x\r\n${many}\r\n\r\n`);
    assert.match(out, /^HTTP\/1\.1 431 /);
  });

  test('headers trickled byte by byte are cut at the headers timeout with 408', async () => {
    const s = net.connect(d.port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    const started = Date.now();
    let out = '';
    s.on('data', (c) => (out += c));
    const closed = new Promise<number>((r) => s.on('close', () => r(Date.now() - started)));
    s.on('error', () => {});
    const text = `GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(100)}`;
    let i = 0;
    const t = setInterval(() => {
      if (i < text.length && !s.destroyed) s.write(text[i++]!);
    }, 50);
    const took = await closed;
    clearInterval(t);
    assert.match(out, /^HTTP\/1\.1 408 /);
    assert.ok(took >= 900 && took < 3000, `cut after ${took}ms (headers timeout 1s)`);
  });

  test('a request with a body and pipelined requests behind it are all answered, in order', async () => {
    const out = await rawExchange(
      d.port,
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloPOST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: t\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    const bodies = [...out.matchAll(/\r\n\r\n(got:[a-z]*|blue)/g)].map((m) => m[1]);
    assert.deepEqual(bodies, ['got:hello', 'got:abcde', 'blue']);
  });

  test('from a client that is no trusted proxy, X-Forwarded-For, -Proto, -Host, Forwarded and X-Real-IP are replaced, hop-by-hop headers are removed, and no Via is added', async () => {
    const out = await rawExchange(
      d.port,
      'GET /headers HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 10.1.1.1\r\nX-Forwarded-Proto: https\r\nForwarded: for=10.1.1.1\r\nX-Real-IP: 10.1.1.1\r\nConnection: close, x-secret-hop\r\nX-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-Kept: yes\r\n\r\n',
    );
    const headers = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4));
    assert.equal(headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(headers['x-real-ip'], '127.0.0.1');
    assert.equal(headers.forwarded, 'for=127.0.0.1;host="shop.example";proto=http');
    assert.equal(headers['x-forwarded-proto'], 'http');
    assert.equal(headers['x-forwarded-host'], 'shop.example');
    assert.equal(headers['x-kept'], 'yes');
    assert.equal(headers['x-secret-hop'], undefined);
    assert.equal(headers['keep-alive'], undefined);
    assert.equal(headers.via, undefined);
    assert.match(out, /connection: close/i, 'the client asked to close, and is told so');
  });

  test('an HTTP/1.0 request is answered and the connection closed', async () => {
    const out = await rawExchange(d.port, 'GET / HTTP/1.0\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 200 /);
    assert.ok(out.endsWith('blue'));
  });

  test('an upstream that never answers gets 504 at the response timeout', async () => {
    const started = Date.now();
    const out = await rawExchange(d.port, 'GET /hang HTTP/1.1\r\nHost: x\r\n\r\n', 5000);
    assert.match(out, /^HTTP\/1\.1 504 .*did not answer within the response timeout/s);
    assert.ok(Date.now() - started < 3000);
  });

  test('a slot whose only target stops answers 503 naming the slot once its health check fails, and status shows it', async () => {
    assert.equal((await d.switchTo('green')).status, 200);
    await green.close();
    let last = '';
    for (let i = 0; i < 40 && !/^HTTP\/1\.1 503/.test(last); i++) {
      last = await rawExchange(d.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 2000);
      assert.match(last, /^HTTP\/1\.1 (502|503) /, 'never a hang, never a success from nowhere');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(last, /^HTTP\/1\.1 503 .*no healthy target in slot green/s);
    const status = await d.api('GET', '/api/v1/services/web');
    assert.equal(status.json.slots.green.targets[0].healthy, false, 'status shows the target unhealthy');
    assert.equal((await d.switchTo('blue')).status, 200);
  });

  test('switching to a slot with no healthy target is refused and changes nothing', async () => {
    const before = (await d.api('GET', '/api/v1/services/web')).json;
    assert.equal(before.live, 'blue');
    const r = await d.switchTo('green');
    assert.equal(r.status, 409);
    assert.equal(r.json.error.code, 'CUTOVER_E_SLOT_UNHEALTHY');
    const afterStatus = (await d.api('GET', '/api/v1/services/web')).json;
    assert.equal(afterStatus.live, 'blue');
    assert.equal(afterStatus.generation, before.generation);
  });

  test('the switch API refuses a bad body, a missing token and an unknown service with coded errors', async () => {
    const bad = await d.api('POST', '/api/v1/services/web/switch', { slot: 'purple' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'CUTOVER_E_BAD_REQUEST');
    const unknown = await d.api('POST', '/api/v1/services/nope/switch', { slot: 'blue' });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error.code, 'CUTOVER_E_NOT_FOUND');
    const noToken = await fetch(`http://127.0.0.1:${d.apiPort}/api/v1/services/web/switch`, { method: 'POST', body: '{"slot":"blue"}' });
    assert.equal(noToken.status, 401);
    const notJson = await fetch(`http://127.0.0.1:${d.apiPort}/api/v1/services/web/switch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${d.token}` },
      body: '{slot',
    });
    assert.equal(notJson.status, 400);
  });
});

test('an upstream refusing connections gives 502 within the connect timeout', async () => {
  const blue = await startUpstream('blue');
  // Health checks far apart: the router still believes the target healthy when it stops.
  const d = await startDaemon([blue.address], [], {
    service: { timeouts: { connect: '500ms' }, health: { path: '/healthz', interval: '30s' } },
  });
  try {
    await blue.close();
    const started = Date.now();
    const out = await rawExchange(d.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 5000);
    assert.match(out, /^HTTP\/1\.1 502 .*refused the connection/s);
    assert.ok(Date.now() - started < 1000, 'within the connect timeout');
    const m = await d.api('GET', '/api/v1/services/web');
    assert.equal(m.status, 200);
  } finally {
    await d.stop();
  }
});
