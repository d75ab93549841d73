import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineRing, LineSplitter, MAX_LINE_BYTES } from './output.ts';

test('a line split across chunks comes out whole, and a last line without newline on flush', () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push('hel'), []);
  assert.deepEqual(s.push('lo\r\nwor'), ['hello']);
  assert.deepEqual(s.push('ld\n\nlast'), ['world', '']);
  assert.deepEqual(s.flush(), ['last']);
  assert.deepEqual(s.flush(), []);
});

test('output that never prints a newline is cut into bounded lines instead of growing', () => {
  const s = new LineSplitter();
  const out = s.push('x'.repeat(MAX_LINE_BYTES * 2 + 10));
  assert.equal(out.length, 2);
  assert.ok(out.every((l) => l.length === MAX_LINE_BYTES));
  assert.deepEqual(s.flush(), ['x'.repeat(10)]);
});

test('the ring keeps the last lines in order once it wraps', () => {
  const ring = new LineRing(3);
  assert.deepEqual(ring.last(), []);
  for (const l of ['a', 'b', 'c', 'd', 'e']) ring.push(l);
  assert.deepEqual(ring.last(), ['c', 'd', 'e']);
  assert.deepEqual(ring.last(2), ['d', 'e']);
  assert.deepEqual(ring.last(10), ['c', 'd', 'e']);
});
