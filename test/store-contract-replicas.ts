// The replica book's part of the Store contract (store-contract.ts runs it on every store): the
// process provider's records of its replicas, which the next controller on the same machine and
// stateDir adopts them by, and which a controller on another machine never sees or removes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ReplicaRecord, Store } from '../src/store/types.ts';
import type { StoreFactory, StoreFeatures } from './store-contract.ts';

type Made = Awaited<ReturnType<StoreFactory>>;
type WithStore = (fn: (store: Store, made: Made) => Promise<void>) => () => Promise<void>;

function rec(id: string, service: string, slot: 'blue' | 'green', index: number, port = 4000 + index): ReplicaRecord {
  // Recorded before it starts: no pid yet.
  return { id, service, slot, version: 'v1', index, address: `127.0.0.1:${port}`, pid: null, startTime: null };
}

const ids = (records: ReplicaRecord[]): string[] => records.map((r) => r.id);

/** A test's name, with the reason it is skipped on this store when it is: the report then says why. */
const named = (title: string, skip: string | false): string => (skip === false ? title : `${title} (skipped: ${skip})`);

export function replicaContract(name: string, features: StoreFeatures, withStore: WithStore): void {
  const none = features.replicas === true ? false : `the ${name} store has no replicas(): its process replicas die with their controller`;

  test(
    named(
      'replica records are replaced by id once the pid is known, listed per service in slot and index order, removed by id, and found by the next controller',
      none,
    ),
    { skip: none },
    withStore(async (store, made) => {
      const book = store.replicas!();
      await book.put([
        rec('g1', 'web', 'green', 1),
        rec('b0', 'web', 'blue', 0),
        rec('g0', 'web', 'green', 0),
        rec('x0', 'api', 'blue', 0),
      ]);
      // Then with the pid and start time of the process that runs.
      const running = { ...rec('b0', 'web', 'blue', 0), pid: 1234, startTime: '98765' };
      await book.put([running]);
      const listed = await book.list('web');
      assert.deepEqual(ids(listed), ['b0', 'g0', 'g1']);
      assert.deepEqual(listed[0], running);
      // A copy: changing what was listed changes nothing stored.
      listed[0]!.pid = 1;
      assert.equal((await book.list('web'))[0]?.pid, 1234);
      await book.remove(['g0', 'nothing']);
      assert.deepEqual(ids(await book.list('web')), ['b0', 'g1']);
      await book.put([]);
      await book.remove([]);

      assert.ok(made.reopen !== undefined, `the ${name} factory gives reopen`);
      await store.close();
      const next = await made.reopen();
      try {
        const again = next.replicas!();
        assert.deepEqual(await again.list('web'), [running, rec('g1', 'web', 'green', 1)]);
        assert.deepEqual(ids(await again.list('api')), ['x0']);
        assert.deepEqual(await again.list('nothing'), []);
      } finally {
        await next.close();
      }
    }),
  );

  test(
    named('a slot of many replicas is recorded whole, beyond what one write of some stores can hold', none),
    { skip: none },
    withStore(async (store) => {
      const book = store.replicas!();
      const many = Array.from({ length: 250 }, (_, i) => rec(`r${String(i).padStart(3, '0')}`, 'web', 'blue', i));
      await book.put(many);
      assert.deepEqual(await book.list('web'), many);
      await book.remove(ids(many));
      assert.deepEqual(await book.list('web'), []);
    }),
  );

  const single =
    none ||
    (features.sharedByMachines === true
      ? false
      : `the ${name} store is one stateDir's: no controller on another machine opens it, so no record can be another's`);
  test(
    named('controllers on two machines sharing the store see and remove only their own replica records', single),
    { skip: single },
    withStore(async (store, made) => {
      assert.ok(made.otherNode !== undefined, `the ${name} factory gives otherNode`);
      const other = await made.otherNode();
      try {
        const mine = store.replicas!();
        const theirs = other.replicas!();
        // The same id on both machines, even: each is the record of its own machine's supervisor.
        await mine.put([rec('r0', 'web', 'blue', 0, 4000), rec('r1', 'web', 'blue', 1, 4001)]);
        await theirs.put([rec('r0', 'web', 'green', 0, 5000)]);
        assert.deepEqual(await theirs.list('web'), [rec('r0', 'web', 'green', 0, 5000)]);
        assert.deepEqual(ids(await mine.list('web')), ['r0', 'r1']);
        // What a new leader does with records no process of its own supervisor has: it removes them.
        await theirs.remove(['r0', 'r1']);
        assert.deepEqual(await theirs.list('web'), []);
        assert.deepEqual(await mine.list('web'), [rec('r0', 'web', 'blue', 0, 4000), rec('r1', 'web', 'blue', 1, 4001)]);
      } finally {
        await other.close();
      }
    }),
  );
}
