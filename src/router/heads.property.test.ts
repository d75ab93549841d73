// Property tests of the request head parsers (fast-check): random valid heads round-trip through
// both parsers alike, random corruptions of them are refused with a status, and no input throws.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { fastRequest, parseRequestHead } from './heads.ts';
import { isHeadError, parseRequestHeadStrict, type RequestHead } from './http1.ts';
import { fieldKind, F_OTHER, validHost, validHostAt } from './rules.ts';

const RUNS = 300;
const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split('');
const VCHARS = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));

const token = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 12 });
/** A field value: visible ASCII and inner spaces, no leading or trailing whitespace. */
const value = fc.string({ unit: fc.constantFrom(...VCHARS), maxLength: 24 }).map((v) => v.trim());
const pathChars = fc.constantFrom(...'abcxyz0189-._~/?=&%'.split(''));
const target = fc.string({ unit: pathChars, maxLength: 20 }).map((p) => `/${p}`);
const hostName = fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?(:[0-9]{1,5})?$/);
/** Header names the router does not act on (the ones it does are exercised by the unit tests). */
const plainName = token.filter((n) => fieldKind(n.toLowerCase()) === F_OTHER && n.toLowerCase() !== 'x-cutover-preview');
const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'X-CUSTOM');

interface ValidHead {
  method: string;
  target: string;
  host: string;
  fields: [string, string][];
  contentLength: number | null;
}

const validHead: fc.Arbitrary<ValidHead> = fc.record({
  method,
  target,
  host: hostName,
  fields: fc.array(fc.tuple(plainName, value), { maxLength: 12 }),
  contentLength: fc.option(fc.nat({ max: 1_000_000 }), { nil: null }),
});

function render(h: ValidHead): string {
  let s = `${h.method} ${h.target} HTTP/1.1\r\nHost: ${h.host}\r\n`;
  for (const [n, v] of h.fields) s += `${n}: ${v}\r\n`;
  if (h.contentLength !== null) s += `Content-Length: ${h.contentLength}\r\n`;
  return s;
}

test('a random valid request head round-trips: method, target, Host, length and every other field in order', () => {
  fc.assert(
    fc.property(validHead, (h) => {
      const head = render(h);
      const parsed = parseRequestHead(head, 100, 'x-cutover-preview');
      assert.ok(!isHeadError(parsed), `refused: ${JSON.stringify(head)}`);
      const req = parsed as RequestHead;
      assert.equal(req.method, h.method);
      assert.equal(req.target, h.target);
      assert.equal(req.host, h.host);
      assert.equal(req.contentLength, h.contentLength ?? -1);
      const expected = `Host: ${h.host}\r\n${h.fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}`;
      assert.equal(req.forwardLines, expected);
    }),
    { numRuns: RUNS },
  );
});

test('wherever the fast parser answers a random valid head, it says exactly what the strict one says', () => {
  fc.assert(
    fc.property(validHead, fc.constantFrom(100, 3), (h, max) => {
      const head = render(h);
      const fast = fastRequest(head, max, 'x-cutover-preview');
      const strict = parseRequestHeadStrict(head.slice(0, -2), max, 'x-cutover-preview');
      if (fast !== null) assert.deepEqual(fast, strict);
      assert.deepEqual(parseRequestHead(head, max, 'x-cutover-preview'), strict);
    }),
    { numRuns: RUNS },
  );
});

/** Ways to break a valid head, each of which RFC 9112 says must be refused. */
const corruption = fc.constantFrom(
  (s: string) => s.replace('\r\n', '\n'),
  (s: string) => s.replace(/\r\n$/, '\rX\r\n'),
  (s: string) => `${s}X-Bad: a\x00b\r\n`,
  (s: string) => `${s}Bad Name: x\r\n`,
  (s: string) => `${s}X-Fold: a\r\n folded\r\n`,
  (s: string) => `${s}Host: second.test\r\n`,
  (s: string) => `${s}Content-Length: 1\r\nContent-Length: 2\r\n`,
  (s: string) => `${s}Content-Length: -1\r\n`,
  (s: string) => `${s}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n`,
  (s: string) => `${s}Transfer-Encoding: gzip\r\n`,
  (s: string) => s.replace(/^[^ ]+/, 'G\x01T'),
  (s: string) => s.replace(' HTTP/1.1', ' HTTP/1.1 '),
  (s: string) => s.replace(/^([^ ]+) \//, '$1 /a b'),
  (s: string) => s.replace(/Host: [^\r]*/, 'Host: a.test, b.test'),
  (s: string) => s.replace(/^[^ ]+/, 'CONNECT'),
);

test('a random valid head with one RFC 9112 violation put in is refused with a status, by both parsers', () => {
  fc.assert(
    fc.property(
      validHead.filter((h) => h.contentLength === null),
      corruption,
      (h, corrupt) => {
        const head = corrupt(render(h));
        const parsed = parseRequestHead(head, 100, 'x-cutover-preview');
        assert.ok(isHeadError(parsed), `accepted: ${JSON.stringify(head)}`);
        assert.ok([400, 431, 501, 505].includes(parsed.status), `status ${parsed.status}`);
        assert.equal(fastRequest(head, 100, 'x-cutover-preview'), null, 'the fast parser never accepts it');
      },
    ),
    { numRuns: RUNS },
  );
});

test('no input, however random, makes the head parser throw: it answers a head or a refusal', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(100, 1), (bytes, max) => {
      const text = `${Buffer.from(bytes).toString('latin1')}\r\n`;
      const out = parseRequestHead(text, max, 'x-cutover-preview');
      if (isHeadError(out)) assert.ok(out.status >= 400 && out.status < 600);
      else assert.equal(typeof out.method, 'string');
    }),
    { numRuns: RUNS * 3 },
  );
});

test('the fast parser decides Host and Connection values exactly as the strict parser does', () => {
  // validHostAt and the Connection fast path read bytes; validHost and closeToken read strings.
  const hostish = fc.string({ unit: fc.constantFrom(...'aZ09-._~!$&()*+;=%[]:.,@/ \tfF'.split('')), maxLength: 14 });
  const connection = fc.oneof(
    fc.constantFrom(
      'keep-alive',
      'Keep-Alive',
      'close',
      'CLOSE',
      ' close ',
      'keep-alive, close',
      'upgrade',
      'te',
      'keep-alivx',
      'clos',
      '',
    ),
    fc.string({ unit: fc.constantFrom(...'closekepaiv-, \t'.split('')), maxLength: 14 }),
  );
  fc.assert(
    fc.property(hostish, connection, (host, conn) => {
      const head = `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: ${conn}\r\n`;
      const fast = fastRequest(head, 100, 'x-cutover-preview');
      const strict = parseRequestHeadStrict(head.slice(0, -2), 100, 'x-cutover-preview');
      if (fast === null) return; // the strict parser decides alone
      assert.ok(!isHeadError(strict), `fast took what strict refuses: ${JSON.stringify(head)}`);
      assert.equal(fast.host, strict.host);
      assert.equal(fast.keepAlive, strict.keepAlive);
    }),
    { numRuns: 2000 },
  );
});

test('validHostAt agrees with validHost on every value', () => {
  const hostish = fc.string({ unit: fc.constantFrom(...'aZ09-._~!$&()*+;=%[]:.,@/ \tfF\u00e9'.split('')), maxLength: 270 });
  fc.assert(
    fc.property(hostish, (v) => {
      const b = Buffer.from(v, 'latin1');
      assert.equal(validHostAt(b, 0, b.length), validHost(v.replace(/^[ \t]+|[ \t]+$/g, '')), JSON.stringify(v));
    }),
    { numRuns: 3000 },
  );
});
