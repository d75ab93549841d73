import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getPath, parsePath } from './json-path.ts';

const doc = { items: [{ id: 7, tags: ['a'] }], meta: { version: 'v2', 'a.b': true }, nothing: null };

function at(path: string): { found: boolean; value?: unknown } {
  const p = parsePath(path);
  if (p instanceof Error) throw p;
  return getPath(doc, p);
}

test('dot and bracket paths reach nested values', () => {
  assert.deepEqual(at('items[0].id'), { found: true, value: 7 });
  assert.deepEqual(at('items[0].tags[0]'), { found: true, value: 'a' });
  assert.deepEqual(at('meta.version'), { found: true, value: 'v2' });
  assert.deepEqual(at('$.meta.version'), { found: true, value: 'v2' });
  assert.deepEqual(at('meta["a.b"]'), { found: true, value: true });
  assert.deepEqual(at("['meta'].version"), { found: true, value: 'v2' });
  assert.deepEqual(at('items'), { found: true, value: doc.items });
});

test('a null value is found, a missing step is not', () => {
  assert.deepEqual(at('nothing'), { found: true, value: null });
  assert.equal(at('items[1].id').found, false);
  assert.equal(at('meta.version.length').found, false);
  assert.equal(at('items.0').found, false, 'an array is indexed with brackets, not a name');
  assert.equal(at('constructor').found, false, 'inherited properties are not part of the document');
});

test('malformed paths are errors that say where', () => {
  assert.ok(parsePath('items[0') instanceof Error);
  assert.ok(parsePath('items[x]') instanceof Error);
  assert.ok(parsePath('a..b') instanceof Error);
  assert.ok(parsePath('items[0]id') instanceof Error);
});
