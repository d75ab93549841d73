import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closest, editDistance } from './suggest.ts';

test('edit distance counts insertions, deletions, substitutions and swaps', () => {
  assert.equal(editDistance('interval', 'interval'), 0);
  assert.equal(editDistance('intervall', 'interval'), 1);
  assert.equal(editDistance('helth', 'health'), 1);
  assert.equal(editDistance('htpp', 'http'), 1);
  assert.equal(editDistance('', 'abc'), 3);
});

test('a close candidate is suggested, ignoring case and separators', () => {
  const keys = ['path', 'interval', 'timeout', 'healthyThreshold', 'unhealthyThreshold', 'headers'];
  assert.equal(closest('intervall', keys), 'interval');
  assert.equal(closest('timout', keys), 'timeout');
  assert.equal(closest('healthy_threshold', keys), 'healthyThreshold');
  assert.equal(closest('Headers', keys), 'headers');
});

test('nothing is suggested when no candidate is close', () => {
  assert.equal(closest('foo', ['listen', 'provider', 'health']), undefined);
  assert.equal(closest('x', ['listen']), undefined);
  assert.equal(closest('anything', []), undefined);
});
