import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CutoverError } from '../errors.ts';
import { retryStale, STALE, WRITE_ATTEMPTS } from './etcd-ops.ts';

test('a write that loses the race is tried again from a fresh read until it is made', async () => {
  let tries = 0;
  const made = await retryStale('switching web', async () => (++tries < 3 ? STALE : 'made'));
  assert.equal(made, 'made');
  assert.equal(tries, 3);
});

test('a write that keeps losing the race is refused as a conflict that names it, after WRITE_ATTEMPTS tries', async () => {
  let tries = 0;
  await assert.rejects(
    retryStale('switching web', async () => {
      tries++;
      return STALE;
    }),
    (err: unknown) => err instanceof CutoverError && err.code === 'CUTOVER_E_CONFLICT' && /switching web lost the race/.test(err.message),
  );
  assert.equal(tries, WRITE_ATTEMPTS);
});

test('an error of one try ends the write at once', async () => {
  let tries = 0;
  await assert.rejects(
    retryStale('revoking token t1', async () => {
      tries++;
      throw new Error('no such token');
    }),
    /no such token/,
  );
  assert.equal(tries, 1);
});
