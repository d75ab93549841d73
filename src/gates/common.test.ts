import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deadline, formatMs, redact } from './common.ts';

test('redact replaces the token in every string however deep, and leaves the rest as it was', () => {
  const token = 'abcdef0123456789';
  const value = { summary: `sent ${token}`, details: { lines: ['x', `a${token}b${token}`], n: 3, ok: true, none: null } };
  assert.deepEqual(redact(value, token), {
    summary: 'sent [preview token]',
    details: { lines: ['x', 'a[preview token]b[preview token]'], n: 3, ok: true, none: null },
  });
  assert.deepEqual(redact(value, 'zzzzzzzzzz'), value);
});

test('a token too short to search for safely leaves results readable', () => {
  assert.deepEqual(redact({ outcome: 'timeout' }, 't'), { outcome: 'timeout' });
});

test('durations read the way a user writes them', () => {
  assert.equal(formatMs(250), '250 ms');
  assert.equal(formatMs(1000), '1 s');
  assert.equal(formatMs(2500), '2.5 s');
  assert.equal(formatMs(300_000), '5m');
  assert.equal(formatMs(90_000), '1m30s');
  assert.equal(formatMs(5_400_000), '1h30m');
});

test('a deadline tells a timeout from an abort', async () => {
  const d = deadline(20);
  await new Promise((r) => d.signal.addEventListener('abort', r));
  assert.equal(d.reason(), 'timeout');
  d.clear();

  const ac = new AbortController();
  const e = deadline(10_000, ac.signal);
  ac.abort();
  assert.equal(e.signal.aborted, true);
  assert.equal(e.reason(), 'aborted');
  e.clear();

  const f = deadline(10_000, AbortSignal.abort());
  assert.equal(f.reason(), 'aborted', 'an already aborted release aborts at once');
  f.clear();
});
