// Property tests of the chunked tracker (fast-check): random valid chunked bodies, cut anywhere,
// end where they end and forward the same data and kept trailers; random framing errors are refused;
// random bytes never make it throw.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CHUNKED_ERROR, CHUNKED_MORE, ChunkedTracker } from './chunked.ts';

const RUNS = 300;
const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split('');
const token = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 8 });
const quotedText = fc.string({ unit: fc.constantFrom(...'abc ;=,\t'.split('')), maxLength: 8 });
const extension = fc.oneof(
  token.map((n) => `;${n}`),
  fc.tuple(token, token).map(([n, v]) => `;${n}=${v}`),
  fc.tuple(token, quotedText).map(([n, v]) => `;${n}="${v}"`),
);

interface Body {
  chunks: { data: Buffer; ext: string; upper: boolean }[];
  lastExt: string;
  trailers: [string, string][];
}

const body: fc.Arbitrary<Body> = fc.record({
  chunks: fc.array(
    fc.record({
      data: fc.uint8Array({ minLength: 1, maxLength: 40 }).map((a) => Buffer.from(a)),
      ext: fc.array(extension, { maxLength: 2 }).map((e) => e.join('')),
      upper: fc.boolean(),
    }),
    { maxLength: 6 },
  ),
  lastExt: fc.array(extension, { maxLength: 1 }).map((e) => e.join('')),
  trailers: fc.array(
    fc.tuple(
      token.filter(
        (t) =>
          !/^(content-length|host|transfer-encoding|trailer|te|connection|upgrade|keep-alive|cookie|set-cookie|expect|range|authorization|forwarded|x-real-ip|max-forwards|cache-control|proxy-.*|content-.*|x-forwarded-.*)$/i.test(
            t,
          ),
      ),
      token,
    ),
    { maxLength: 3 },
  ),
});

function encode(b: Body): Buffer {
  const parts: Buffer[] = [];
  for (const c of b.chunks) {
    const size = c.data.length.toString(16);
    parts.push(Buffer.from(`${c.upper ? size.toUpperCase() : size}${c.ext}\r\n`), c.data, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`0${b.lastExt}\r\n${b.trailers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`));
  return Buffer.concat(parts);
}

/** Feeds `bytes` cut at `cuts`; returns the end offset (or error) and the bytes that would go out. */
function run(bytes: Buffer, cuts: number[]): { end: number; out: Buffer } {
  const t = new ChunkedTracker();
  const out: Buffer[] = [];
  let from = 0;
  for (const to of [...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length]) {
    if (to <= from) continue;
    const part = bytes.subarray(from, to);
    const end = t.feed(part, 0);
    if (end === CHUNKED_ERROR) return { end, out: Buffer.concat(out) };
    out.push(part.subarray(0, t.holdFrom >= 0 ? t.holdFrom : end === CHUNKED_MORE ? part.length : end));
    if (end !== CHUNKED_MORE) {
      out.push(t.trailerSection());
      return { end: from + end, out: Buffer.concat(out) };
    }
    from = to;
  }
  return { end: CHUNKED_MORE, out: Buffer.concat(out) };
}

test('a random valid chunked body, cut anywhere, ends where it ends and forwards every byte and kept trailer', () => {
  fc.assert(
    fc.property(body, fc.array(fc.nat({ max: 400 }), { maxLength: 4 }), fc.uint8Array({ maxLength: 10 }), (b, cuts, next) => {
      const bytes = encode(b);
      const { end, out } = run(Buffer.concat([bytes, Buffer.from(next)]), cuts);
      assert.equal(end, bytes.length);
      assert.deepEqual(out, bytes);
    }),
    { numRuns: RUNS },
  );
});

/** Framing errors put into a valid body, each one refused by RFC 9112 7.1. */
const breakage = fc.constantFrom(
  (s: string) => s.replace(/^[0-9a-fA-F]+/, 'zz'),
  (s: string) => s.replace(/^([0-9a-fA-F]+)/, '$1 '),
  (s: string) => s.replace(/^([0-9a-fA-F]+)/, '$1;'),
  (s: string) => s.replace(/^([0-9a-fA-F]+)/, '$1;x="\r\n'),
  (s: string) => s.replace(/^([0-9a-fA-F]+)/, '$1;x\x00'),
  (s: string) => s.replace(/^([0-9a-fA-F]+)/, '$1 junk'),
  (s: string) => s.replace(/^([0-9a-fA-F]+)\r\n/, '$1\n'),
  // One byte more than the first chunk's size says, before its CRLF (the filter below keeps that chunk
  // free of extensions, so its size line is just the hex and CRLF).
  (s: string) => {
    const line = /^([0-9a-fA-F]+)\r\n/.exec(s)!;
    const at = line[0].length + Number.parseInt(line[1]!, 16);
    return `${s.slice(0, at)}X${s.slice(at)}`;
  },
  (s: string) => s.replace(/\r\n$/, 'GET /admin HTTP/1.1\r\n\r\n'),
  (s: string) => s.replace(/\r\n$/, '\n'),
);

test('a random valid chunked body with one framing error put in is refused, cut anywhere', () => {
  fc.assert(
    fc.property(
      body.filter((b) => b.chunks.length > 0 && b.chunks[0]!.ext === '' && b.chunks[0]!.data.indexOf(13) < 0),
      breakage,
      fc.array(fc.nat({ max: 400 }), { maxLength: 3 }),
      (b, broken, cuts) => {
        const text = broken(encode(b).toString('latin1'));
        assert.equal(run(Buffer.from(text, 'latin1'), cuts).end, CHUNKED_ERROR, JSON.stringify(text.slice(0, 60)));
      },
    ),
    { numRuns: RUNS },
  );
});

test('no bytes, however random, make the tracker throw: it answers more, an end inside them, or an error', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 4 }), (parts) => {
      const t = new ChunkedTracker();
      for (const p of parts) {
        const r = t.feed(Buffer.from(p), 0);
        assert.ok(r === CHUNKED_MORE || r === CHUNKED_ERROR || (r >= 0 && r <= p.length));
        if (r !== CHUNKED_MORE) break;
      }
    }),
    { numRuns: RUNS * 3 },
  );
});
