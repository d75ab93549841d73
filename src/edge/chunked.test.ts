import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChunkedDecoder, DECODE_ERROR, DECODE_MORE } from './chunked.ts';

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
