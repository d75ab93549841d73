// The etcd store against a real 3-member etcd cluster: the Store contract every store passes, then
// what only a cluster can show: prefixes keep installations apart, a member down changes nothing,
// two members down refuse a switch clearly and change nothing, and racing clients get one winner.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { GRPCDeadlineExceededError } from 'etcd3';
import { after, describe, test } from 'node:test';
import { CutoverError } from '../src/errors.ts';
import { storeContract } from './store-contract.ts';
import { EtcdStore } from '../src/store/etcd.ts';
import { STORE_UNAVAILABLE, StoreUnavailableError } from '../src/store/etcd-errors.ts';
import type { RouteState, Store } from '../src/store/types.ts';
import { startEtcdCluster } from './etcd-cluster.ts';
import { freePort, waitFor } from './helpers.ts';

const cluster = await startEtcdCluster();
after(() => cluster.close());

const by = { actor: 'controller', reason: 'test' };
const opened: Store[] = [];
after(() => Promise.all(opened.map((s) => s.close())));

/** A store on a prefix no other test uses: an installation of its own (`node`: whose replica records it keeps). */
async function connect(prefix = `/cutover-test/${randomUUID()}`, node = 'host-a:/var/lib/cutover'): Promise<EtcdStore> {
  const store = await EtcdStore.connect({ endpoints: cluster.endpoints, prefix, node });
  opened.push(store);
  return store;
}

function route(service: string, generation: number, live: 'blue' | 'green'): RouteState {
  return {
    service,
    live,
    weights: { blue: live === 'blue' ? 100 : 0, green: live === 'green' ? 100 : 0 },
    generation,
    slots: {
      blue: { version: '1.0.0', targets: ['127.0.0.1:41001'] },
      green: { version: '2.0.0', targets: ['127.0.0.1:41002'] },
    },
  };
}

const switchEvent = (to: string) => ({
  service: 'web',
  type: 'switch' as const,
  actor: 'cli',
  reason: `cutover switch web ${to}`,
  data: { to },
});

async function codeOf(p: Promise<unknown>): Promise<CutoverError> {
  let caught: unknown;
  await assert.rejects(p, (err) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof CutoverError, `expected a CutoverError, got ${String(caught)}`);
  return caught;
}

storeContract(
  'etcd',
  async () => {
    const store = await connect();
    return {
      store,
      dispose: () => store.close(),
      reopen: () => connect(store.prefix),
      // Another machine's controller of the same installation: the same stateDir path, another host.
      otherNode: () => connect(store.prefix, 'host-b:/var/lib/cutover'),
    };
  },
  { grouped: true, replicas: true, sharedByMachines: true },
);

describe('etcd store in a fleet', () => {
  test('two installations on one cluster do not see each other, even when one prefix starts the other', async () => {
    const prod = await connect('/cutover/prod');
    const eu = await connect('/cutover/prod-eu');
    const r = await prod.createRelease({ service: 'web', version: '2.0.0', slot: 'green', fromSlot: 'blue' }, by);
    await prod.putRouteState(route('web', 1, 'blue'), { expectGeneration: 0, event: switchEvent('blue') });
    await prod.createToken({ name: 'ops', role: 'admin', hash: 'same-secret' });

    assert.equal(await eu.getRelease(r.id), null);
    assert.equal(await eu.activeRelease('web'), null);
    assert.deepEqual(await eu.activeReleases(), []);
    assert.deepEqual(await eu.listReleases('web'), []);
    assert.deepEqual(await eu.events(), []);
    assert.deepEqual(await eu.listRouteStates(), []);
    assert.deepEqual(await eu.listTokens(), []);
    // The same service, generation and secret are free in the other installation.
    const other = await eu.createRelease({ service: 'web', version: '9.0.0', slot: 'blue', fromSlot: null }, by);
    await eu.putRouteState(route('web', 1, 'green'), { expectGeneration: 0 });
    await eu.createToken({ name: 'ops', role: 'admin', hash: 'same-secret' });
    // Each installation counts its own events from 1, whatever else the cluster holds.
    assert.deepEqual(
      (await prod.events()).map((e) => e.seq),
      [1, 2],
    );
    assert.deepEqual(
      (await eu.events()).map((e) => e.seq),
      [1],
    );
    assert.equal((await prod.activeRelease('web'))?.id, r.id);
    assert.equal((await eu.activeRelease('web'))?.id, other.id);
    assert.equal((await prod.getRouteState('web'))?.live, 'blue');
  });

  test('with one of three members killed (the leader), releases move and switches still commit', async () => {
    const store = await connect();
    await store.putRouteState(route('web', 1, 'blue'), { expectGeneration: 0 });
    const leader = await cluster.leader();
    // SIGKILL: no leadership handed over, so the first calls meet an election.
    await cluster.stop(leader, 'SIGKILL');
    try {
      const r = await store.createRelease({ service: 'web', version: '2.0.0', slot: 'green', fromSlot: 'blue' }, by);
      for (const phase of ['provisioning', 'verifying', 'shifting'] as const) await store.transition(r.id, phase, by);
      await store.putRouteState(route('web', 2, 'green'), { expectGeneration: 1, event: { ...switchEvent('green'), releaseId: r.id } });
      const stale = await codeOf(store.putRouteState(route('web', 2, 'blue'), { expectGeneration: 1 }));
      assert.equal(stale.code, 'CUTOVER_E_CONFLICT');
      assert.match(stale.message, /generation 2, expected 1/);
      assert.equal((await store.getRouteState('web'))?.live, 'green');
      const history = (await store.events({ releaseId: r.id })).map((e) => e.phase ?? e.type);
      assert.deepEqual(history, ['pending', 'provisioning', 'verifying', 'shifting', 'switch']);
    } finally {
      await cluster.start(leader);
      await cluster.healthy();
    }
    // The member that was away catches up and serves the same state.
    const fresh = await EtcdStore.connect({ endpoints: [cluster.endpoints[leader]!], prefix: store.prefix });
    opened.push(fresh);
    assert.equal((await fresh.getRouteState('web'))?.generation, 2);
  });

  test('with two of three members stopped, a switch is refused within seconds saying there is no quorum, and nothing changed', async () => {
    const store = await connect();
    await store.putRouteState(route('web', 1, 'blue'), { expectGeneration: 0 });
    const r = await store.createRelease({ service: 'web', version: '2.0.0', slot: 'green', fromSlot: 'blue' }, by);
    const eventsBefore = await store.events();
    const survivor = 2;
    await cluster.stop(0);
    await cluster.stop(1);
    try {
      await waitFor('the surviving member to notice it has no leader', async () => (await cluster.status(survivor))?.leader === '0');
      const started = Date.now();
      const err = await codeOf(
        store.putRouteState(route('web', 2, 'green'), { expectGeneration: 1, event: { ...switchEvent('green'), releaseId: r.id } }),
      );
      const took = Date.now() - started;
      assert.ok(err instanceof StoreUnavailableError);
      assert.equal(err.code, STORE_UNAVAILABLE);
      assert.equal(err.status, 503);
      assert.match(err.message, /^etcd has no quorum \(1 of 3 members reachable\): the change was not made\. Start the stopped members/);
      assert.ok(took < 6000, `refused after ${took} ms`);
      // The same for the other writes, reads say what they could not do, and a daemon starting now
      // says so too instead of hanging (at once: each takes as long as the switch).
      const [transition, bare, read, starting] = await Promise.all([
        codeOf(store.transition(r.id, 'provisioning', by)),
        codeOf(store.putRouteState(route('web', 2, 'green'), { expectGeneration: 1 })),
        codeOf(store.getRouteState('web')),
        codeOf(EtcdStore.connect({ endpoints: cluster.endpoints, prefix: store.prefix, dialTimeoutMs: 2000 })),
      ]);
      assert.match(transition.message, /^etcd has no quorum \(1 of 3 members reachable\): the change was not made/);
      assert.match(bare.message, /^etcd has no quorum \(1 of 3 members reachable\): the change was not made/);
      assert.match(read.message, /^etcd has no quorum \(1 of 3 members reachable\): nothing could be read/);
      assert.equal(starting.code, STORE_UNAVAILABLE);
    } finally {
      await cluster.start(0);
      await cluster.start(1);
      await cluster.healthy();
    }
    assert.deepEqual(await store.getRouteState('web'), route('web', 1, 'blue'));
    assert.equal((await store.getRelease(r.id))?.phase, 'pending');
    assert.deepEqual(await store.events(), eventsBefore);
    // And the same client works again.
    await store.putRouteState(route('web', 2, 'green'), { expectGeneration: 1, event: { ...switchEvent('green'), releaseId: r.id } });
    assert.equal((await store.getRouteState('web'))?.generation, 2);
  });

  test('a store pointed at no etcd at all refuses to start, naming how many members it reached', async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const err = await codeOf(EtcdStore.connect({ endpoints: [nowhere], prefix: '/cutover/none', dialTimeoutMs: 1000 }));
    assert.equal(err.code, STORE_UNAVAILABLE);
    assert.match(err.message, /^etcd has no quorum \(0 of 1 member reachable\)/);
  });

  test('two controllers racing one switch: exactly one wins each round, and the other is told to read again', async () => {
    const prefix = `/cutover-test/${randomUUID()}`;
    const a = await connect(prefix);
    const b = await connect(prefix);
    await a.putRouteState(route('web', 1, 'blue'), { expectGeneration: 0 });
    for (let gen = 1; gen <= 20; gen++) {
      // Every other round with a switch event, which also races for the event counter.
      const event = gen % 2 === 0 ? switchEvent(`round ${gen}`) : undefined;
      const results = await Promise.allSettled([
        a.putRouteState(route('web', gen + 1, 'green'), { expectGeneration: gen, ...(event ? { event } : {}) }),
        b.putRouteState(route('web', gen + 1, 'blue'), { expectGeneration: gen, ...(event ? { event } : {}) }),
      ]);
      const won = results.filter((x) => x.status === 'fulfilled');
      const lost = results.filter((x) => x.status === 'rejected');
      assert.equal(won.length, 1, `round ${gen}: ${results.map((x) => x.status).join(', ')}`);
      const reason: unknown = lost[0]?.reason;
      assert.ok(reason instanceof CutoverError && reason.code === 'CUTOVER_E_CONFLICT', String(reason));
      assert.match(reason.message, new RegExp(`generation ${gen + 1}, expected ${gen}\\); read it again`));
      assert.deepEqual(await b.getRouteState('web'), won[0]?.value);
    }
    assert.equal((await a.events({ service: 'web' })).filter((e) => e.type === 'switch').length, 10);
  });

  test('an operator aborting while the controller advances: one of the two transitions wins, on any client', async () => {
    const prefix = `/cutover-test/${randomUUID()}`;
    const controller = await connect(prefix);
    const operator = await connect(prefix);
    for (let round = 0; round < 5; round++) {
      const r = await controller.createRelease({ service: 'web', version: `2.0.${round}`, slot: 'green', fromSlot: 'blue' }, by);
      for (const phase of ['provisioning', 'verifying', 'awaiting-approval'] as const) await controller.transition(r.id, phase, by);
      const results = await Promise.allSettled([
        controller.transition(r.id, 'shifting', { ...by, from: 'awaiting-approval' }),
        operator.transition(r.id, 'aborted', { actor: 'api:alice', reason: 'wrong version', from: 'awaiting-approval' }),
      ]);
      assert.equal(results.filter((x) => x.status === 'fulfilled').length, 1, results.map((x) => x.status).join(', '));
      const phases = (await operator.events({ releaseId: r.id })).map((e) => e.phase);
      assert.equal(phases.length, 5);
      const last = phases[4];
      assert.equal((await controller.getRelease(r.id))?.phase, last);
      if (last === 'shifting') await controller.transition(r.id, 'rolled-back', by);
      assert.equal(await operator.activeRelease('web'), null);
    }
  });

  test('more active releases than etcd takes operations in one transaction are all resumed, oldest first', async () => {
    const store = await connect();
    const ids: string[] = [];
    for (let batch = 0; batch < 14; batch++) {
      const made = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          store.createRelease({ service: `svc-${batch * 10 + i}`, version: '1', slot: 'blue', fromSlot: null }, by),
        ),
      );
      ids.push(...made.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).map((r) => r.id));
    }
    const resumed = await store.activeReleases();
    assert.equal(resumed.length, 140);
    assert.deepEqual(new Set(resumed.map((r) => r.id)), new Set(ids));
    // Batches were created one after another, so the first ten resumed are the first batch.
    assert.deepEqual(new Set(resumed.slice(0, 10).map((r) => r.id)), new Set(ids.slice(0, 10)));
  });

  test('a write whose answer was lost is found to have happened, or made certain not to happen', async () => {
    const store = await connect();
    const r = await store.createRelease({ service: 'web', version: '2.0.0', slot: 'green', fromSlot: 'blue' }, by);
    await store.putRouteState(route('web', 1, 'blue'), { expectGeneration: 0 });
    // The next write transaction (one with puts behind a compare) is sent and its answer dropped, or
    // dropped before it is sent: what a deadline or a crashed leader does, at a moment we choose.
    const kv = store.client.kv;
    const send = kv.txn.bind(kv);
    let fault: 'lose-answer' | 'never-send' | null = null;
    kv.txn = async (req, options) => {
      const isWrite = (req.compare?.length ?? 0) > 0 && (req.success ?? []).some((op) => op.request_put !== undefined);
      const now = isWrite ? fault : null;
      if (now !== null) fault = null;
      if (now === 'never-send') throw new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: dropped by the test');
      const res = await send(req, options);
      if (now === 'lose-answer') throw new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: answer dropped by the test');
      return res;
    };
    const phases = async () => (await store.events({ releaseId: r.id })).map((e) => e.phase);

    fault = 'lose-answer';
    const { release } = await store.transition(r.id, 'provisioning', by);
    assert.equal(release.phase, 'provisioning');
    assert.deepEqual(await phases(), ['pending', 'provisioning']);

    fault = 'never-send';
    const lost = await codeOf(store.transition(r.id, 'verifying', by));
    assert.equal(lost.code, STORE_UNAVAILABLE);
    assert.match(lost.message, /^etcd did not answer in time \(3 of 3 members reachable, with a leader\): the change was not made\. Retry/);
    assert.deepEqual(await phases(), ['pending', 'provisioning']);
    await store.transition(r.id, 'verifying', by);
    assert.deepEqual(
      (await store.events()).map((e) => e.seq),
      [1, 2, 3],
    );

    // A switch without an event has no counter to fence: found written, or not confirmed.
    fault = 'lose-answer';
    assert.equal((await store.putRouteState(route('web', 2, 'green'), { expectGeneration: 1 })).generation, 2);
    fault = 'never-send';
    const unsure = await codeOf(store.putRouteState(route('web', 3, 'blue'), { expectGeneration: 2 }));
    assert.match(unsure.message, /the change was not confirmed and may still take effect, so read the state again/);
    assert.equal((await store.getRouteState('web'))?.generation, 2);
  });

  test('events written at once by two clients get distinct seqs with no gaps', async () => {
    const prefix = `/cutover-test/${randomUUID()}`;
    const a = await connect(prefix);
    const b = await connect(prefix);
    const writes = Array.from({ length: 30 }, (_, i) =>
      (i % 2 === 0 ? a : b).appendEvent({ service: 'web', type: 'audit', actor: 'api:alice', reason: `change ${i}` }),
    );
    const written = await Promise.all(writes);
    const seqs = written.map((e) => e.seq).sort((x, y) => x - y);
    assert.deepEqual(
      seqs,
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      (await b.events()).map((e) => e.seq),
      seqs,
    );
    assert.deepEqual(
      (await a.events({ service: 'web', afterSeq: 25 })).map((e) => e.seq),
      [26, 27, 28, 29, 30],
    );
  });
});
