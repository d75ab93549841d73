import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CHUNKED_ERROR, CHUNKED_MORE, ChunkedTracker } from './chunked.ts';
import { ChunkedDecoder, DECODE_ERROR, DECODE_MORE } from './chunked-decoder.ts';

function decode(parts: string[]): { data: string; end: number; trailers: [string, string][] } {
  const d = new ChunkedDecoder();
  let data = '';
  let end = DECODE_MORE;
  for (const p of parts) {
    end = d.feed(Buffer.from(p, 'latin1'), (s) => (data += s.toString('latin1')));
    if (end !== DECODE_MORE) break;
  }
  return { data, end, trailers: d.trailers };
}

describe('chunked bodies decoded for HTTP/2 clients', () => {
  it('gives the data without framing and says where the body ends', () => {
    const r = decode(['5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nNEXT']);
    assert.equal(r.data, 'hello world');
    assert.equal(r.end, '5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n'.length);
  });

  it('works whatever the byte boundaries', () => {
    const whole = 'a\r\n0123456789\r\n0\r\ngrpc-status: 0\r\n\r\n';
    const r = decode(whole.split(''));
    assert.equal(r.data, '0123456789');
    assert.deepEqual(r.trailers, [['grpc-status', '0']]);
  });

  it('keeps trailer fields', () => {
    const r = decode(['0\r\nGrpc-Status: 0\r\ngrpc-message: fine\r\n\r\n']);
    assert.deepEqual(r.trailers, [
      ['grpc-status', '0'],
      ['grpc-message', 'fine'],
    ]);
  });

  it('refuses bad framing and oversized trailers', () => {
    assert.equal(decode(['zz\r\n']).end, DECODE_ERROR);
    assert.equal(decode(['3\r\nabcX']).end, DECODE_ERROR);
    assert.equal(decode(['1234567890abc\r\n']).end, DECODE_ERROR);
    assert.equal(decode([`0\r\nx: ${'a'.repeat(9000)}\r\n\r\n`]).end, DECODE_ERROR);
  });
});

describe('an h2 client is refused exactly what an HTTP/1.1 client is (one set of chunk rules)', () => {
  /** The router's verdict on the same bytes: where the body ends, or an error. */
  function tracked(bytes: Buffer): number {
    return new ChunkedTracker().feed(bytes, 0);
  }

  it('refuses the chunk lines and trailers the router refuses', () => {
    for (const bad of [
      '2 ;a\r\nab\r\n0\r\n\r\n', // whitespace before an extension (the old decoder let it through)
      '2;\r\nab\r\n0\r\n\r\n',
      '2;x="\r\nAB\r\n0\r\n\r\n',
      '2;x=a b\r\nab\r\n0\r\n\r\n',
      '0\r\nX : 1\r\n\r\n',
      '0\r\n folded\r\n\r\n',
      '0\r\nX: a\x01b\r\n\r\n',
    ]) {
      assert.equal(tracked(Buffer.from(bad, 'latin1')), CHUNKED_ERROR, JSON.stringify(bad));
      for (let cut = 0; cut < bad.length; cut++)
        assert.equal(decode([bad.slice(0, cut), bad.slice(cut)]).end, DECODE_ERROR, `${JSON.stringify(bad)} cut at ${cut}`);
    }
  });

  it('leaves out the trailer fields a trailer may not carry, as the router does', () => {
    const r = decode(['0\r\nContent-Length: 5\r\nSet-Cookie: a=b\r\ngrpc-status: 0\r\n\r\n']);
    assert.deepEqual(r.trailers, [['grpc-status', '0']]);
  });

  it('agrees with the router on random framing, cut anywhere, and gives the chunks their data', () => {
    const piece = fc.constantFrom(
      '3',
      'a',
      'A',
      'g',
      '0',
      ';',
      '=',
      '"',
      '\\',
      ' ',
      '\t',
      'x',
      ':',
      '\r',
      '\n',
      '\r\n',
      'abc',
      ';e=1',
      '\x01',
    );
    const chunk = fc
      .tuple(fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.array(piece, { maxLength: 3 }))
      .map(([data, ext]) => ({ data: Buffer.from(data), ext: ext.join('') }));
    fc.assert(
      fc.property(fc.array(chunk, { maxLength: 4 }), fc.array(piece, { maxLength: 6 }), fc.nat(), (chunks, tail, cutSeed) => {
        const bytes = Buffer.concat([
          ...chunks.flatMap((c) => [Buffer.from(`${c.data.length.toString(16)}${c.ext}\r\n`, 'latin1'), c.data, Buffer.from('\r\n')]),
          Buffer.from(`0\r\n${tail.join('')}\r\n`, 'latin1'),
        ]);
        const cut = cutSeed % (bytes.length + 1);
        const d = new ChunkedDecoder();
        const out: Buffer[] = [];
        let end = d.feed(bytes.subarray(0, cut), (s) => out.push(Buffer.from(s)));
        if (end === DECODE_MORE) {
          const rest = d.feed(bytes.subarray(cut), (s) => out.push(Buffer.from(s)));
          end = rest >= 0 ? rest + cut : rest;
        }
        const expected = tracked(bytes);
        assert.equal(end, expected === CHUNKED_ERROR ? DECODE_ERROR : expected === CHUNKED_MORE ? DECODE_MORE : expected);
        // The data is known only when the random pieces kept the sizes as written: each chunk's
        // extension starts with `;` and holds no line end (a piece like "0" or "\r\n3" reframes it).
        const framedAsWritten = chunks.every((c) => c.ext === '' || (c.ext.startsWith(';') && !/[\r\n]/.test(c.ext)));
        if (end >= 0 && framedAsWritten) assert.deepEqual(Buffer.concat(out), Buffer.concat(chunks.map((c) => c.data)));
      }),
      { numRuns: 500 },
    );
  });
});
