import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BODY_CHUNKED,
  BODY_LENGTH,
  BODY_NONE,
  BODY_UNTIL_CLOSE,
  F_HOP,
  F_OTHER,
  fieldKind,
  HOP_BY_HOP,
  parseContentLength,
  REQUEST_FIRST,
  RESPONSE_FIRST,
  requestBodyMode,
  responseBodyMode,
} from './rules.ts';

test('a Content-Length is digits only; repeated identical values are one, different ones are refused', () => {
  assert.equal(parseContentLength('5', -1), 5);
  assert.equal(parseContentLength(' 5\t', -1), 5);
  assert.equal(parseContentLength('5, 5', -1), 5);
  assert.equal(parseContentLength('5', 5), 5);
  for (const bad of ['', '+5', '-1', '5x', '5 5', '0x5', '5,6', '1234567890123456', '5\xa0']) {
    assert.equal(parseContentLength(bad, -1), -2, JSON.stringify(bad));
  }
  assert.equal(parseContentLength('6', 5), -2);
});

test('a request body is framed by chunked as the final coding, refused when framing is ambiguous', () => {
  assert.equal(requestBodyMode(null, -1, 1), BODY_NONE);
  assert.equal(requestBodyMode(null, 0, 1), BODY_NONE);
  assert.equal(requestBodyMode(null, 3, 1), BODY_LENGTH);
  assert.equal(requestBodyMode('chunked', -1, 1), BODY_CHUNKED);
  assert.equal(requestBodyMode('gzip, chunked', -1, 1), BODY_CHUNKED);
  assert.equal(requestBodyMode('chunked', 3, 1), 'both Content-Length and Transfer-Encoding');
  assert.equal(requestBodyMode('chunked', -1, 0), 'Transfer-Encoding in an HTTP/1.0 request');
  assert.equal(requestBodyMode('chunked, gzip', -1, 1), 'Transfer-Encoding must end with chunked');
  assert.equal(requestBodyMode('chunked, chunked', -1, 1), 'chunked applied more than once');
  assert.equal(requestBodyMode('g@zip, chunked', -1, 1), 'malformed Transfer-Encoding');
});

test('a response body follows RFC 9112 6.3: none for HEAD, 1xx, 204, 304; chunked wins; otherwise until close', () => {
  assert.equal(responseBodyMode('HEAD', 200, null, 10), BODY_NONE);
  assert.equal(responseBodyMode('GET', 204, null, 10), BODY_NONE);
  assert.equal(responseBodyMode('GET', 304, 'chunked', -1), BODY_NONE);
  assert.equal(responseBodyMode('GET', 200, 'chunked', 10), BODY_CHUNKED);
  assert.equal(responseBodyMode('GET', 200, 'gzip', -1), BODY_UNTIL_CLOSE);
  assert.equal(responseBodyMode('GET', 200, null, 10), BODY_LENGTH);
  assert.equal(responseBodyMode('GET', 200, null, 0), BODY_NONE);
  assert.equal(responseBodyMode('GET', 200, null, -1), BODY_UNTIL_CLOSE);
});

test('every hop-by-hop field has a kind the parsers act on, and the first-letter filters let each one through', () => {
  for (const name of HOP_BY_HOP) {
    assert.notEqual(fieldKind(name), F_OTHER, name);
    const c = name.charCodeAt(0);
    assert.equal(REQUEST_FIRST[c], 1, name);
    assert.equal(REQUEST_FIRST[c & ~0x20], 1, name.toUpperCase());
    assert.equal(RESPONSE_FIRST[c], 1, name);
  }
  assert.equal(fieldKind('keep-alive'), F_HOP);
  assert.equal(fieldKind('x-custom'), F_OTHER);
});
