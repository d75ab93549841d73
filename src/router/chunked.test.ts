import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHUNKED_ERROR, CHUNKED_MORE, ChunkedTracker } from './chunked.ts';

/** Feeds `bytes` split at `cut` and returns what would be forwarded, or 'error'. */
function forward(bytes: Buffer, cut: number): string {
  const t = new ChunkedTracker();
  let out = '';
  let at = 0;
  for (const part of cut > 0 && cut < bytes.length ? [bytes.subarray(0, cut), bytes.subarray(cut)] : [bytes]) {
    const end = t.feed(part, 0);
    if (end === CHUNKED_ERROR) return 'error';
    const stop = t.holdFrom >= 0 ? t.holdFrom : end === CHUNKED_MORE ? part.length : end;
    out += part.toString('latin1', 0, stop);
    if (end !== CHUNKED_MORE) return `${out + t.trailerSection().toString('latin1')}|${bytes.toString('latin1', at + end)}`;
    at += part.length;
  }
  return 'more';
}

test('a chunked body is followed across any split of its bytes, trailers included', () => {
  const body = Buffer.from('3\r\nabc\r\na;ext=1\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nNEXT');
  for (let cut = 0; cut <= body.length - 4; cut++) {
    const t = new ChunkedTracker();
    const a = t.feed(body.subarray(0, cut), 0);
    if (a >= 0) {
      assert.equal(a, body.length - 4);
      continue;
    }
    assert.equal(a, CHUNKED_MORE);
    const b = t.feed(body.subarray(cut), 0);
    assert.equal(b + cut, body.length - 4, `split at ${cut}`);
  }
});

test('malformed chunk framing is refused', () => {
  for (const bad of ['zz\r\n', '3\r\nabcX\r\n', '3\nabc\r\n', '\r\n', '1234567890abc\r\n', '0\r\nX: 1\n\r\n']) {
    assert.equal(new ChunkedTracker().feed(Buffer.from(bad), 0), CHUNKED_ERROR, JSON.stringify(bad));
  }
});

test('chunk extensions follow RFC 9112 7.1.1 (without whitespace): text without `;`, empty names, open quotes, controls and spaces are refused', () => {
  const bad = [
    '2 erfrferferf\r\nab\r\n0\r\n\r\n',
    '2;\r\nab\r\n0\r\n\r\n',
    '2;;x\r\nab\r\n0\r\n\r\n',
    '2;x="\r\nAB\r\n0\r\n\r\n',
    '2;x=\x00\r\nab\r\n0\r\n\r\n',
    '2;x\x7f\r\nab\r\n0\r\n\r\n',
    '2;x="a\x7f"\r\nab\r\n0\r\n\r\n',
    '2 \r\nab\r\n0\r\n\r\n',
    '2;x=\r\nab\r\n0\r\n\r\n',
    '2;x="a"b\r\nab\r\n0\r\n\r\n',
    '2;x=a b\r\nab\r\n0\r\n\r\n',
    '2 ;a\r\nab\r\n0\r\n\r\n',
    '2;a =b\r\nab\r\n0\r\n\r\n',
    '2\r\nab\r\n0;\r\n\r\n',
  ];
  for (const b of bad) {
    const bytes = Buffer.from(b, 'latin1');
    for (let cut = 0; cut < bytes.length; cut++) assert.equal(forward(bytes, cut), 'error', `${JSON.stringify(b)} split at ${cut}`);
  }
  const good = [
    '2;a\r\nab\r\n0\r\n\r\n',
    '2;a=b;c="d;\\"e"\r\nab\r\n0\r\n\r\n',
    '2;a=b\r\nab\r\n0;last\r\n\r\n',
    '2;a="\xe9"\r\nab\r\n0\r\n\r\n',
  ];
  for (const g of good) {
    const bytes = Buffer.from(g, 'latin1');
    for (let cut = 0; cut < bytes.length; cut++) assert.equal(forward(bytes, cut), `${g}|`, `${JSON.stringify(g)} split at ${cut}`);
  }
});

test('trailers must be field lines, and those naming framing, routing or hop-by-hop fields are dropped', () => {
  for (const b of [
    '0\r\nGET /admin HTTP/1.1\r\n\r\n',
    '0\r\n folded\r\n\r\n',
    '0\r\nX : 1\r\n\r\n',
    '0\r\nX: a\x01b\r\n\r\n',
    '0\r\n: v\r\n\r\n',
  ]) {
    const bytes = Buffer.from(b, 'latin1');
    for (let cut = 0; cut < bytes.length; cut++) assert.equal(forward(bytes, cut), 'error', `${JSON.stringify(b)} split at ${cut}`);
  }
  const body = Buffer.from(
    '1\r\na\r\n0\r\nX-Sum: 1\r\nContent-Length: 9\r\nHost: evil\r\nTransfer-Encoding: chunked\r\nX-B: 2\r\n\r\nNEXT',
  );
  for (let cut = 0; cut < body.length; cut++) {
    assert.equal(forward(body, cut), '1\r\na\r\n0\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n|NEXT', `split at ${cut}`);
  }
});

test('a trailer section larger than the limit is refused', () => {
  const t = new ChunkedTracker();
  assert.equal(t.feed(Buffer.from(`0\r\nX: ${'a'.repeat(9000)}\r\n\r\n`), 0), CHUNKED_ERROR);
});
