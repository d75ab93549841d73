// The etcd store's pieces that need no cluster: what its errors say, how etcd's failures are read,
// and the store URL. The store itself is tested against a real cluster in test/etcd-store.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EtcdError, GRPCDeadlineExceededError, GRPCInvalidArgumentError, GRPCUnavailableError } from 'etcd3';
import { classify } from './etcd-client.ts';
import { STORE_UNAVAILABLE, StoreUnavailableError } from './etcd-errors.ts';
import { keysFor, padSeq, parseEtcdUrl, prefixRange } from './etcd-keys.ts';

describe('etcd store errors', () => {
  test('without a quorum the message counts the members, says whether the change was made, and what to do', () => {
    const down = new StoreUnavailableError({ reachable: 1, members: 3, leader: false }, 'not-made');
    assert.equal(down.code, STORE_UNAVAILABLE);
    assert.equal(down.status, 503);
    assert.equal(
      down.message,
      'etcd has no quorum (1 of 3 members reachable): the change was not made. ' +
        'Start the stopped members or repair the network between them (2 of 3 must be up), then retry',
    );
    const unsure = new StoreUnavailableError({ reachable: 2, members: 5, leader: false }, 'unknown');
    assert.match(unsure.message, /^etcd has no quorum \(2 of 5 members reachable\): the change was not confirmed/);
    assert.match(unsure.message, /may still take effect, so read the state again before retrying\. .*\(3 of 5 must be up\)$/);
    // Enough members up but no leader yet (an election) is still no quorum.
    const electing = new StoreUnavailableError({ reachable: 3, members: 3, leader: false }, 'read');
    assert.match(electing.message, /^etcd has no quorum .*nothing could be read/);
  });

  test('a slow cluster that has a quorum is not called one without', () => {
    const slow = new StoreUnavailableError({ reachable: 3, members: 3, leader: true }, 'unknown');
    assert.match(slow.message, /^etcd did not answer in time \(3 of 3 members reachable, with a leader\)/);
  });

  test("etcd's failures are told apart: turned away before a proposal, maybe proposed, or not a failure of availability", () => {
    assert.equal(classify(new GRPCUnavailableError('14 UNAVAILABLE: etcdserver: no leader')), 'refused');
    assert.equal(classify(new GRPCUnavailableError('14 UNAVAILABLE: No connection established')), 'refused');
    assert.equal(classify(new GRPCUnavailableError('14 UNAVAILABLE: etcdserver: leader changed')), 'timed-out');
    assert.equal(classify(new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded')), 'timed-out');
    assert.equal(classify(new EtcdError('etcdserver: request timed out')), 'timed-out');
    assert.equal(classify(new EtcdError('etcdserver: mvcc: database space exceeded')), null);
    assert.equal(classify(new GRPCInvalidArgumentError('3 INVALID_ARGUMENT: etcdserver: request is too large')), null);
    assert.equal(classify(new TypeError('a bug')), null);
  });
});

describe('etcd store keys', () => {
  test('a store URL gives the endpoints and the prefix, /cutover when it has none', () => {
    assert.deepEqual(parseEtcdUrl('etcd://10.0.0.1:2379,10.0.0.2:2379'), {
      endpoints: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'],
      prefix: '/cutover',
    });
    assert.deepEqual(parseEtcdUrl('etcds://etcd-a:2379,[::1]:2380/cutover/prod/'), {
      endpoints: ['https://etcd-a:2379', 'https://[::1]:2380'],
      prefix: '/cutover/prod',
    });
    for (const bad of ['etcd://', 'http://a:2379', 'etcd://a', 'etcd://a:2379,,b']) {
      assert.throws(() => parseEtcdUrl(bad), { code: 'CUTOVER_E_CONFIG_INVALID' }, bad);
    }
  });

  test('names cannot reach outside their directory, and seq order is key order', () => {
    const k = keysFor('/cutover/prod/');
    assert.equal(k.release('rel_1/../x'), '/cutover/prod/releases/rel_1%2F..%2Fx');
    assert.equal(k.eventsOfService('web/a'), '/cutover/prod/events-by-service/web%2Fa/');
    assert.ok(padSeq(9) < padSeq(10) && padSeq(10) < padSeq(Number.MAX_SAFE_INTEGER));
    const { key, range_end } = prefixRange(k.routes);
    assert.equal(key.toString(), '/cutover/prod/routes/');
    assert.equal(range_end.toString(), '/cutover/prod/routes0');
  });
});
