import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cookieValue, isHeadError, parseRequestHeadStrict, parseResponseHeadStrict } from './http1.ts';
import { fastRequest, fastResponse, parseRequestHead, parseResponseHead, ScannedRequest, scanRequest } from './heads.ts';

const requests = [
  'GET / HTTP/1.1\r\nHost: a\r\n',
  'GET /x?y=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: wrk\r\nAccept: */*\r\nConnection: keep-alive\r\n',
  'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n',
  'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n',
  'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n',
  'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5x\r\n',
  'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n',
  'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n',
  'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\xa0\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nConnection: close, x-hop\r\nX-Hop: 1\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nKeep-Alive: 5\r\nProxy-Connection: x\r\nTE: trailers\r\nTrailer: x\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\nCookie: cutover-preview=t\r\nExpect: 100-continue\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nX-Cutover-Preview: tok\r\nX-Other: 1\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n',
  'GET / HTTP/1.1\r\nAccept: *\r\n',
  'GET / HTTP/1.0\r\n',
  'GET / HTTP/1.0\r\nConnection: keep-alive\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\n folded\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nX: caf\xe9\r\n',
  'GET /a b HTTP/1.1\r\nHost: a\r\n',
  'GET / HTTP/2.0\r\nHost: a\r\n',
  'G@T / HTTP/1.1\r\nHost: a\r\n',
  'GET / HTTP/1.1 \r\nHost: a\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Tab:\tv\t\r\n',
  // Names are compared as bytes in any case; a name of a known length that is not the field passes.
  'GET / HTTP/1.1\r\nHOST: a\r\ncontent-LENGTH: 0\r\nX-CUTOVER-PREVIEW: t\r\nHosx: b\r\nConnectioN: Keep-Alive\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nCookie:  a=1 \r\nX-Forwarded-Fop: 1\r\nForwarded: for=1.2.3.4\r\nforwarded: for=5.6.7.8\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: a\r\n',
  'PURGE /x HTTP/1.1\r\nHost: a\r\n',
  'CONNECT a:443 HTTP/1.1\r\nHost: a\r\n',
  'GET / HTTP/1.1\r\nHost: a\rX: b\r\n',
  'GET / HTTP/1.1\r\nHost: a\nX: b\r\n',
  'GET / HTTP/1.1\r\nHost : a\r\n',
  'GET / HTTP/1.1\r\nHost: a, b\r\n',
  // More dropped lines than the fast parser remembers: the strict one decides.
  `GET / HTTP/1.1\r\nHost: a\r\n${Array.from({ length: 20 }, (_, i) => `Keep-Alive: ${i}\r\nX-${i}: v\r\n`).join('')}`,
];

test('the fast request parser agrees with the strict one wherever it answers, and the public parser always agrees', () => {
  let fastAnswered = 0;
  for (const head of requests) {
    for (const max of [100, 2]) {
      const strict = parseRequestHeadStrict(head.slice(0, -2), max, 'x-cutover-preview');
      const fast = fastRequest(head, max, 'x-cutover-preview');
      if (fast !== null) {
        fastAnswered++;
        assert.ok(!isHeadError(strict), `strict refused what fast accepted: ${JSON.stringify(head)}`);
        assert.deepEqual(fast, strict, JSON.stringify(head));
      }
      assert.deepEqual(parseRequestHead(head, max, 'x-cutover-preview'), strict, JSON.stringify(head));
    }
  }
  assert.ok(fastAnswered >= 12, `the fast path handles the common shapes (${fastAnswered})`);
});

test('a head read in place goes upstream as its request line and the forwarded lines, byte for byte', () => {
  let checked = 0;
  for (const text of requests) {
    const fast = fastRequest(text, 100, 'x-cutover-preview');
    if (fast === null) continue;
    // The head sits inside a larger buffer, with bytes before it and the body after, as on a socket.
    const buf = Buffer.from(`XX${text}\r\nbody`, 'latin1');
    const scan = new ScannedRequest();
    assert.ok(scanRequest(buf, 2, 2 + text.length, 100, 'x-cutover-preview', scan), JSON.stringify(text));
    const expected = `${fast.method} ${fast.target} HTTP/1.${fast.minor}\r\n${fast.forwardLines}`;
    assert.equal(scan.forwardText(), expected, JSON.stringify(text));
    // An edge that strips a path prefix replaces the target: the line is written anew.
    scan.target = '/';
    assert.equal(scan.forwardText(), `${fast.method} / HTTP/1.${fast.minor}\r\n${fast.forwardLines}`);
    scan.release();
    checked++;
  }
  assert.ok(checked >= 12, `checked ${checked}`);
});

const responses = [
  'HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n',
  'HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n',
  'HTTP/1.1 304 Not Modified\r\n',
  'HTTP/1.1 200 OK\r\n',
  'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n',
  'HTTP/1.1 200\r\nContent-Length: 2\r\n',
  'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n',
  'HTTP/1.1 200 OK\r\nConnection: x-secret\r\nX-Secret: 1\r\nContent-Length: 2\r\n',
  'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nUpgrade: h2c\r\nContent-Length: 2\r\n',
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n',
  'HTTP/1.1 100 Continue\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n',
  'HTTP/1.1 200 OK\r\nX: a\x00b\r\n',
  'HTTP/1.1 99 OK\r\n',
  'HTTP/1.1 200 OK\nX: 1\r\n',
  'HTTP/1.2 200 OK\r\n',
];

test('the fast response parser agrees with the strict one wherever it answers', () => {
  let fastAnswered = 0;
  for (const head of responses) {
    for (const method of ['GET', 'HEAD']) {
      const strict = parseResponseHeadStrict(head.slice(0, -2), method, 100);
      const fast = fastResponse(head, method, 100);
      if (fast !== null) {
        fastAnswered++;
        assert.ok(!isHeadError(strict), `strict refused what fast accepted: ${JSON.stringify(head)}`);
        assert.deepEqual(fast, strict, JSON.stringify(head));
      }
      assert.deepEqual(parseResponseHead(head, method, 100), strict, JSON.stringify(head));
    }
  }
  assert.ok(fastAnswered >= 16, `the fast path handles the common shapes (${fastAnswered})`);
});

test('a cookie is found by its exact name only', () => {
  assert.equal(cookieValue('a=1; cutover-preview=tok; b=2', 'cutover-preview'), 'tok');
  assert.equal(cookieValue('xcutover-preview=tok', 'cutover-preview'), null);
  assert.equal(cookieValue('cutover-previewx=tok', 'cutover-preview'), null);
  assert.equal(cookieValue('cutover-preview=a;cutover-preview=b', 'cutover-preview'), 'a');
});
