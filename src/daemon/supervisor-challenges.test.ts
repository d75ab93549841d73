import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Challenge } from '../edge/challenge-sink.ts';
import { ChallengeBook } from './supervisor-challenges.ts';

const token = (t: string): Challenge => ({ type: 'http-01', token: t, keyAuthorization: `${t}.auth` });

describe('the supervisor’s book of pending ACME challenges', () => {
  it('hands the router processes only what changed, per service, and a first empty set clears what a dead controller left', () => {
    const book = new ChallengeBook();
    assert.deepEqual(book.replace('app', { 'http-01:a': token('a') }), [['app http-01:a', token('a')]]);
    assert.deepEqual(book.replace('api', { 'http-01:b': token('b') }), [['api http-01:b', token('b')]]);
    assert.deepEqual(book.replace('app', { 'http-01:a': token('a'), 'http-01:c': token('c') }), [['app http-01:c', token('c')]]);
    assert.deepEqual(
      book.all().map(([k]) => k),
      ['app http-01:a', 'app http-01:c', 'api http-01:b'],
    );
    // A new controller's client starts with an empty set.
    assert.deepEqual(book.replace('app', {}), [
      ['app http-01:a', null],
      ['app http-01:c', null],
    ]);
    assert.deepEqual(
      book.all().map(([k]) => k),
      ['api http-01:b'],
    );
  });
});
