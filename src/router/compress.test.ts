import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptedEncoding, compressedLines, compressionFor, DEFAULT_TYPES, ENCODINGS, headerValue } from './compress.ts';

const OPTS = { types: DEFAULT_TYPES, minSize: 1024, encodings: [...ENCODINGS] };

test('the encoding follows the client’s q-values, ties go to the preferred one, q=0 and identity-only mean none', () => {
  assert.equal(acceptedEncoding('gzip, deflate, br', ENCODINGS), 'br');
  assert.equal(acceptedEncoding('gzip;q=1, br;q=0.5', ENCODINGS), 'gzip');
  assert.equal(acceptedEncoding('br;q=0, gzip', ENCODINGS), 'gzip');
  assert.equal(acceptedEncoding('zstd', ENCODINGS), 'zstd');
  assert.equal(acceptedEncoding('*', ['gzip']), 'gzip');
  assert.equal(acceptedEncoding('*;q=0, identity', ENCODINGS), null);
  assert.equal(acceptedEncoding('identity', ENCODINGS), null);
  assert.equal(acceptedEncoding(null, ENCODINGS), null);
  assert.equal(acceptedEncoding('deflate', ENCODINGS), null);
});

test('only identity bodies of listed types, big enough, that no rule keeps as they are, are compressed', () => {
  const go = (lines: string, type: string | null = 'text/html; charset=utf-8', length = 5000, status = 200, method = 'GET') =>
    compressionFor(OPTS, 'gzip', method, status, type, length, lines);
  assert.equal(go(''), 'gzip');
  assert.equal(go('', 'application/json', -1), 'gzip', 'unknown length (chunked) is compressed');
  assert.equal(go('', 'image/png'), null);
  assert.equal(go('', 'text/event-stream'), null, 'events would be held back');
  assert.equal(go('', null), null);
  assert.equal(go('', 'text/plain', 100), null, 'under minSize');
  assert.equal(go('Content-Encoding: gzip\r\n'), null);
  assert.equal(go('content-encoding: identity\r\n'), 'gzip');
  assert.equal(go('Cache-Control: public, no-transform\r\n'), null);
  assert.equal(go('content-range: bytes 0-10/100\r\n'), null);
  assert.equal(go('', 'text/html', 5000, 206), null);
  assert.equal(go('', 'text/html', 5000, 304), null);
  assert.equal(go('', 'text/html', 5000, 200, 'HEAD'), null);
});

test('a compressed answer loses its length and framing, gets a weak ETag, Vary: accept-encoding and its Content-Encoding', () => {
  const lines = 'Content-Type: text/html\r\nContent-Length: 5000\r\nETag: "abc"\r\nVary: Cookie\r\nX-Keep: 1\r\n';
  const out = compressedLines(lines, 'br');
  assert.equal(out, 'Content-Type: text/html\r\nX-Keep: 1\r\netag: W/"abc"\r\nvary: Cookie, accept-encoding\r\ncontent-encoding: br\r\n');
  assert.equal(headerValue(compressedLines('vary: Accept-Encoding\r\n', 'gzip'), 'vary'), 'Accept-Encoding');
  assert.equal(headerValue(compressedLines('ETag: W/"x"\r\n', 'gzip'), 'etag'), 'W/"x"');
});
