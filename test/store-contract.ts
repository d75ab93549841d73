// The behaviour every Store must have, as tests: store-contract-sqlite.test.ts runs it on SQLite and memory,
// and etcd-store.test.ts on etcd. `makeStore` gives a fresh, empty store and a function that disposes of it.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { replicaContract } from './store-contract-replicas.ts';
import { CutoverError } from '../src/errors.ts';
import { derivePhase, PHASES, TERMINAL_PHASES } from '../src/lifecycle.ts';
import type { Phase, ReleaseRecord, RouteState, Store } from '../src/store/types.ts';

export type StoreFactory = () => Promise<{
  store: Store;
  dispose: () => Promise<void>;
  /** The same installation opened again as this machine's next controller opens it (once `store` is closed). */
  reopen?: () => Promise<Store>;
  /** The same installation as a controller on another machine opens it; absent where no other machine can share it. */
  otherNode?: () => Promise<Store>;
}>;

/** What a store offers beyond the required methods, so the contract tests it. */
export interface StoreFeatures {
  /** It has putRouteStates: several services' switches in one transaction. */
  grouped?: boolean;
  /** It has replicas(): the process provider's replica records (the factory gives `reopen`). */
  replicas?: boolean;
  /** Controllers on several machines open one installation of it (the factory gives `otherNode`). */
  sharedByMachines?: boolean;
}

const by = { actor: 'controller', reason: 'test' };

/** The phases that lead from pending to `to` (excluding pending, including `to`). */
const PATH: Record<Phase, Phase[]> = {
  pending: [],
  provisioning: ['provisioning'],
  verifying: ['provisioning', 'verifying'],
  'awaiting-approval': ['provisioning', 'verifying', 'awaiting-approval'],
  shifting: ['provisioning', 'verifying', 'shifting'],
  observing: ['provisioning', 'verifying', 'shifting', 'observing'],
  promoted: ['provisioning', 'verifying', 'shifting', 'observing', 'promoted'],
  retired: ['provisioning', 'verifying', 'shifting', 'observing', 'promoted', 'retired'],
  failed: ['provisioning', 'failed'],
  aborted: ['provisioning', 'verifying', 'awaiting-approval', 'aborted'],
  'rolled-back': ['provisioning', 'verifying', 'shifting', 'rolled-back'],
};

async function walk(store: Store, id: string, to: Phase): Promise<void> {
  for (const phase of PATH[to]) await store.transition(id, phase, { ...by, reason: `to ${phase}` });
}

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<CutoverError> {
  let caught: unknown;
  await assert.rejects(p, (err) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof CutoverError, `expected a CutoverError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message !== undefined) assert.match(caught.message, message);
  return caught;
}

function route(service: string, generation: number, live: 'blue' | 'green' | null): RouteState {
  return {
    service,
    live,
    weights: { blue: live === 'blue' ? 100 : 0, green: live === 'green' ? 100 : 0 },
    generation,
    slots: {
      blue: { version: '1.0.0', targets: ['127.0.0.1:41001', '127.0.0.1:41002'] },
      green: { version: null, targets: [] },
    },
  };
}

export function storeContract(name: string, makeStore: StoreFactory, features: StoreFeatures = {}): void {
  describe(`${name} store`, () => {
    const withStore = (fn: (store: Store, made: Awaited<ReturnType<StoreFactory>>) => Promise<void>) => async () => {
      const made = await makeStore();
      try {
        await fn(made.store, made);
      } finally {
        await made.dispose();
      }
    };
    const newRelease = (store: Store, service = 'web', version = '2.0.0'): Promise<ReleaseRecord> =>
      store.createRelease({ service, version, slot: 'green', fromSlot: 'blue' }, { actor: 'cli', reason: `deploy ${version}` });

    test(
      'a new release starts pending, with a first event saying who asked and why',
      withStore(async (store) => {
        const r = await newRelease(store);
        assert.equal(r.phase, 'pending');
        assert.equal(r.service, 'web');
        assert.equal(r.slot, 'green');
        assert.equal(r.fromSlot, 'blue');
        assert.deepEqual(await store.getRelease(r.id), r);
        const [first, ...rest] = await store.events({ releaseId: r.id });
        assert.deepEqual(rest, []);
        assert.equal(first?.type, 'phase');
        assert.equal(first?.phase, 'pending');
        assert.equal(first?.actor, 'cli');
        assert.equal(first?.reason, 'deploy 2.0.0');
        assert.equal(first?.time, r.createdAt);
      }),
    );

    test(
      'a release cannot start while another of the same service is running, and the refusal names it',
      withStore(async (store) => {
        const running = await newRelease(store, 'web', '2.0.0');
        await walk(store, running.id, 'verifying');
        const err = await rejectsWith(newRelease(store, 'web', '3.0.0'), 'CUTOVER_E_CONFLICT');
        assert.equal(err.status, 409);
        assert.ok(err.message.includes(running.id), err.message);
        assert.ok(err.message.includes('verifying'), err.message);
        assert.equal((await store.listReleases('web')).length, 1);
        // Another service is not held up.
        const other = await newRelease(store, 'checkout', '1.0.0');
        assert.equal(other.phase, 'pending');
      }),
    );

    test(
      'a promoted release still blocks the next one until its standby is retired',
      withStore(async (store) => {
        const r = await newRelease(store);
        await walk(store, r.id, 'promoted');
        await rejectsWith(newRelease(store, 'web', '3.0.0'), 'CUTOVER_E_CONFLICT', /promoted/);
        await store.transition(r.id, 'retired', { ...by, reason: 'standby time ran out' });
        assert.equal((await newRelease(store, 'web', '3.0.0')).phase, 'pending');
      }),
    );

    for (const end of TERMINAL_PHASES) {
      test(
        `a release that ended ${end} lets the next one start`,
        withStore(async (store) => {
          const r = await newRelease(store, 'web', '2.0.0');
          await walk(store, r.id, end);
          assert.equal(await store.activeRelease('web'), null);
          const next = await newRelease(store, 'web', '3.0.0');
          assert.equal((await store.activeRelease('web'))?.id, next.id);
        }),
      );
    }

    test(
      'transitions follow the phase table and a refused one leaves no trace',
      withStore(async (store) => {
        const r = await newRelease(store);
        await rejectsWith(store.transition(r.id, 'shifting', by), 'CUTOVER_E_CONFLICT', /pending; it cannot become shifting/);
        await rejectsWith(store.transition(r.id, 'pending', by), 'CUTOVER_E_CONFLICT');
        await rejectsWith(store.transition(r.id, 'rolled-back', by), 'CUTOVER_E_CONFLICT');
        assert.equal((await store.getRelease(r.id))?.phase, 'pending');
        assert.equal((await store.events({ releaseId: r.id })).length, 1);
        await walk(store, r.id, 'retired');
        assert.equal((await store.getRelease(r.id))?.phase, 'retired');
      }),
    );

    test(
      'nothing follows a terminal phase',
      withStore(async (store) => {
        for (const end of TERMINAL_PHASES) {
          const r = await newRelease(store, `svc-${end}`);
          await walk(store, r.id, end);
          for (const to of PHASES) {
            await rejectsWith(store.transition(r.id, to, by), 'CUTOVER_E_CONFLICT', /already ended/);
          }
          assert.equal((await store.getRelease(r.id))?.phase, end);
        }
      }),
    );

    test(
      'a transition guarded by `from` is refused when someone else moved the release first',
      withStore(async (store) => {
        const r = await newRelease(store);
        await walk(store, r.id, 'awaiting-approval');
        // The operator aborts while the controller, which read `awaiting-approval`, is about to shift.
        await store.transition(r.id, 'aborted', { actor: 'api:alice', reason: 'wrong version', from: 'awaiting-approval' });
        await rejectsWith(
          store.transition(r.id, 'shifting', { ...by, from: ['verifying', 'awaiting-approval'] }),
          'CUTOVER_E_CONFLICT',
          /is aborted now, not verifying or awaiting-approval/,
        );
        assert.equal((await store.getRelease(r.id))?.phase, 'aborted');
      }),
    );

    test(
      'a transition of an unknown release is not found',
      withStore(async (store) => {
        await rejectsWith(store.transition('rel_nope', 'provisioning', by), 'CUTOVER_E_NOT_FOUND', /rel_nope/);
      }),
    );

    test(
      'events come back in order with rising seq, time, actor and reason, filtered as asked',
      withStore(async (store) => {
        const web = await newRelease(store, 'web');
        const checkout = await newRelease(store, 'checkout');
        await store.transition(web.id, 'provisioning', { actor: 'controller', reason: 'starting 2 targets' });
        await store.appendEvent({
          service: 'web',
          releaseId: web.id,
          type: 'provider',
          actor: 'controller',
          reason: 'targets started',
          data: { targets: ['127.0.0.1:41003'] },
        });
        await store.transition(checkout.id, 'provisioning', by);
        await store.appendEvent({ service: 'web', type: 'audit', actor: 'api:alice', reason: 'token created' });

        const all = await store.events();
        assert.equal(all.length, 6);
        for (let i = 1; i < all.length; i++) assert.ok(all[i]!.seq > all[i - 1]!.seq, 'seq rises');
        for (const e of all) {
          assert.ok(!Number.isNaN(Date.parse(e.time)), `time ${e.time}`);
          assert.ok(e.actor.length > 0 && e.reason.length > 0);
        }
        const mine = await store.events({ releaseId: web.id });
        assert.deepEqual(
          mine.map((e) => e.type),
          ['phase', 'phase', 'provider'],
        );
        assert.deepEqual(mine[2]?.data, { targets: ['127.0.0.1:41003'] });
        assert.equal(mine[1]?.reason, 'starting 2 targets');

        const ofWeb = await store.events({ service: 'web' });
        assert.deepEqual(
          ofWeb.map((e) => e.reason),
          ['deploy 2.0.0', 'starting 2 targets', 'targets started', 'token created'],
        );
        assert.equal(ofWeb[3]?.releaseId, null);
        assert.deepEqual(ofWeb[3]?.data, {});

        const after = await store.events({ afterSeq: all[3]!.seq });
        assert.deepEqual(
          after.map((e) => e.seq),
          [all[4]!.seq, all[5]!.seq],
        );
        const newest = await store.events({ service: 'web', order: 'desc', limit: 2 });
        assert.deepEqual(
          newest.map((e) => e.reason),
          ['token created', 'targets started'],
        );
        assert.equal((await store.events({ limit: 1 }))[0]?.seq, all[0]!.seq);
      }),
    );

    test(
      'phase events are written by transitions only, and events name releases that exist',
      withStore(async (store) => {
        const r = await newRelease(store);
        await rejectsWith(
          store.appendEvent({ service: 'web', releaseId: r.id, type: 'phase' as 'audit', actor: 'x', reason: 'sneaky' }),
          'CUTOVER_E_INTERNAL',
        );
        await rejectsWith(
          store.appendEvent({ service: 'web', releaseId: 'rel_nope', type: 'gate', actor: 'x', reason: 'y' }),
          'CUTOVER_E_NOT_FOUND',
        );
        await rejectsWith(
          store.appendEvent({ service: 'checkout', releaseId: r.id, type: 'gate', actor: 'x', reason: 'y' }),
          'CUTOVER_E_INTERNAL',
        );
        assert.equal((await store.events()).length, 1);
      }),
    );

    test(
      'a release record is what its events say, with the latest reason and merged data',
      withStore(async (store) => {
        const r = await store.createRelease(
          { service: 'web', version: '2.0.0', slot: 'green', fromSlot: 'blue', data: { requestedBy: 'alice' } },
          by,
        );
        await walk(store, r.id, 'observing');
        await store.transition(r.id, 'promoted', {
          ...by,
          reason: 'analysis passed',
          releaseData: { standbyUntil: '2030-01-01T00:00:00.000Z' },
        });
        const stored = await store.getRelease(r.id);
        assert.equal(derivePhase(await store.events({ releaseId: r.id })), stored?.phase);
        assert.equal(stored?.phase, 'promoted');
        assert.equal(stored?.reason, 'analysis passed');
        assert.deepEqual(stored?.data, { requestedBy: 'alice', standbyUntil: '2030-01-01T00:00:00.000Z' });
        assert.ok(stored !== null && stored.updatedAt >= stored.createdAt);
        const { release, event } = await store.transition(r.id, 'rolled-back', { actor: 'api:bob', reason: 'errors in checkout' });
        assert.equal(release.phase, 'rolled-back');
        assert.equal(event.phase, 'rolled-back');
        assert.equal(event.actor, 'api:bob');
        assert.deepEqual(await store.getRelease(r.id), release);
        assert.equal(derivePhase(await store.events({ releaseId: r.id })), 'rolled-back');
      }),
    );

    test(
      'releases are listed newest first and only active ones are resumed',
      withStore(async (store) => {
        const ids: string[] = [];
        for (const v of ['1', '2', '3']) {
          const r = await newRelease(store, 'web', v);
          ids.push(r.id);
          if (v !== '3') await walk(store, r.id, 'failed');
        }
        const api = await newRelease(store, 'api', '9');
        assert.deepEqual(
          (await store.listReleases('web')).map((r) => r.id),
          [...ids].reverse(),
        );
        assert.deepEqual(
          (await store.listReleases('web', { limit: 2 })).map((r) => r.version),
          ['3', '2'],
        );
        assert.deepEqual((await store.activeReleases()).map((r) => r.id).sort(), [ids[2]!, api.id].sort());
        assert.equal(await store.getRelease('rel_nope'), null);
        assert.equal(await store.activeRelease('nothing'), null);
        assert.deepEqual(await store.listReleases('nothing'), []);
      }),
    );

    test(
      'route state is written only over the generation the writer read',
      withStore(async (store) => {
        assert.equal(await store.getRouteState('web'), null);
        const first = await store.putRouteState(route('web', 1, 'blue'), { expectGeneration: 0 });
        assert.deepEqual(first, route('web', 1, 'blue'));
        assert.deepEqual(await store.getRouteState('web'), route('web', 1, 'blue'));
        // A second writer that also saw "nothing yet" loses.
        await rejectsWith(
          store.putRouteState(route('web', 1, 'green'), { expectGeneration: 0 }),
          'CUTOVER_E_CONFLICT',
          /generation 1, expected 0/,
        );
        await store.putRouteState(route('web', 2, 'green'), { expectGeneration: 1 });
        // A writer holding generation 1 is stale now.
        await rejectsWith(
          store.putRouteState(route('web', 3, 'blue'), { expectGeneration: 1 }),
          'CUTOVER_E_CONFLICT',
          /generation 2, expected 1/,
        );
        // The generation must rise.
        await rejectsWith(store.putRouteState(route('web', 2, 'blue'), { expectGeneration: 2 }), 'CUTOVER_E_INTERNAL');
        assert.equal((await store.getRouteState('web'))?.live, 'green');
        await store.putRouteState(route('api', 1, null), { expectGeneration: 0 });
        assert.deepEqual(
          (await store.listRouteStates()).map((s) => [s.service, s.generation]),
          [
            ['api', 1],
            ['web', 2],
          ],
        );
      }),
    );

    test(
      'a route change and its switch event are written together or not at all',
      withStore(async (store) => {
        const event = { service: 'web', type: 'switch' as const, actor: 'cli', reason: 'cutover switch web green', data: { to: 'green' } };
        await store.putRouteState(route('web', 1, 'blue'), { expectGeneration: 0 });
        await store.putRouteState(route('web', 2, 'green'), { expectGeneration: 1, event });
        const switches = (await store.events({ service: 'web' })).filter((e) => e.type === 'switch');
        assert.equal(switches.length, 1);
        assert.deepEqual(switches[0]?.data, { to: 'green' });
        // Stale: no event either.
        await rejectsWith(store.putRouteState(route('web', 2, 'blue'), { expectGeneration: 1, event }), 'CUTOVER_E_CONFLICT');
        // A bad event: no route change either.
        await rejectsWith(
          store.putRouteState(route('web', 3, 'blue'), { expectGeneration: 2, event: { ...event, releaseId: 'rel_nope' } }),
          'CUTOVER_E_NOT_FOUND',
        );
        assert.equal((await store.events({ service: 'web' })).length, 1);
        assert.equal((await store.getRouteState('web'))?.generation, 2);
      }),
    );

    const ungrouped =
      features.grouped === true ? false : `the ${name} store has no putRouteStates: a grouped release switches its members one by one`;
    test(
      ungrouped === false
        ? 'several services switch in one transaction: a stale generation or a bad event on any one writes none of them'
        : `several services switch in one transaction (skipped: ${ungrouped})`,
      { skip: ungrouped },
      withStore(async (store) => {
        const putAll = store.putRouteStates?.bind(store);
        assert.ok(putAll !== undefined);
        const r = await newRelease(store, 'web');
        for (const s of ['api', 'web']) await store.putRouteState(route(s, 1, 'blue'), { expectGeneration: 0 });
        const event = (service: string, releaseId: string | null = null) => ({
          service,
          releaseId,
          type: 'switch' as const,
          actor: 'controller',
          reason: `together ${service}`,
        });
        const before = (await store.events()).length;
        // api is stale (generation 1, not 5): web, first in the list, is not switched alone.
        await rejectsWith(
          putAll([
            { state: route('web', 2, 'green'), options: { expectGeneration: 1, event: event('web', r.id) } },
            { state: route('api', 7, 'green'), options: { expectGeneration: 5, event: event('api') } },
          ]),
          'CUTOVER_E_CONFLICT',
          /route table of api changed meanwhile \(generation 1, expected 5\)/,
        );
        // An event naming a release that does not exist: nothing is written either.
        await rejectsWith(
          putAll([
            { state: route('web', 2, 'green'), options: { expectGeneration: 1, event: event('web', r.id) } },
            { state: route('api', 2, 'green'), options: { expectGeneration: 1, event: event('api', 'rel_nope') } },
          ]),
          'CUTOVER_E_NOT_FOUND',
        );
        assert.deepEqual(
          (await store.listRouteStates()).map((s) => [s.service, s.live, s.generation]),
          [
            ['api', 'blue', 1],
            ['web', 'blue', 1],
          ],
        );
        assert.equal((await store.events()).length, before);

        // A member with no route state yet goes in with the others.
        const written = await putAll([
          { state: route('web', 2, 'green'), options: { expectGeneration: 1, event: event('web', r.id) } },
          { state: route('api', 2, 'green'), options: { expectGeneration: 1, event: event('api') } },
          { state: route('worker', 1, 'green'), options: { expectGeneration: 0, event: event('worker') } },
        ]);
        assert.deepEqual(written, [route('web', 2, 'green'), route('api', 2, 'green'), route('worker', 1, 'green')]);
        assert.deepEqual(
          (await store.listRouteStates()).map((s) => [s.service, s.live, s.generation]),
          [
            ['api', 'green', 2],
            ['web', 'green', 2],
            ['worker', 'green', 1],
          ],
        );
        const switches = (await store.events()).slice(before);
        assert.deepEqual(
          switches.map((e) => [e.service, e.releaseId, e.reason]),
          [
            ['web', r.id, 'together web'],
            ['api', null, 'together api'],
            ['worker', null, 'together worker'],
          ],
        );
        for (let i = 1; i < switches.length; i++) assert.ok(switches[i]!.seq > switches[i - 1]!.seq, 'seq rises');
        assert.deepEqual(
          (await store.events({ releaseId: r.id })).map((e) => e.type),
          ['phase', 'switch'],
        );
        // The others' generations moved: a writer holding the old ones is refused, all of it.
        await rejectsWith(
          putAll([
            { state: route('worker', 2, 'blue'), options: { expectGeneration: 1 } },
            { state: route('web', 2, 'blue'), options: { expectGeneration: 1 } },
          ]),
          'CUTOVER_E_CONFLICT',
          /route table of web changed meanwhile \(generation 2, expected 1\)/,
        );
        assert.equal((await store.getRouteState('worker'))?.live, 'green');
      }),
    );

    replicaContract(name, features, withStore);

    test(
      'tokens are found by hash until revoked, and revoking twice keeps the first time',
      withStore(async (store) => {
        const viewer = await store.createToken({ name: 'dashboard', role: 'viewer', hash: 'h1' });
        const admin = await store.createToken({ name: 'ops', role: 'admin', hash: 'h2' });
        assert.equal(viewer.revokedAt, null);
        assert.deepEqual(await store.findTokenByHash('h1'), viewer);
        assert.equal(await store.findTokenByHash('nope'), null);
        await rejectsWith(store.createToken({ name: 'again', role: 'admin', hash: 'h2' }), 'CUTOVER_E_CONFLICT');
        const revoked = await store.revokeToken(viewer.id);
        assert.ok(revoked.revokedAt !== null);
        assert.equal(await store.findTokenByHash('h1'), null);
        assert.deepEqual(await store.revokeToken(viewer.id), revoked);
        assert.deepEqual(await store.listTokens(), [revoked, admin]);
        await rejectsWith(store.revokeToken('tok_nope'), 'CUTOVER_E_NOT_FOUND');
      }),
    );

    test(
      'what a store returns is a copy the caller cannot use to change it',
      withStore(async (store) => {
        const data = { nested: { n: 1 } };
        const r = await store.createRelease({ service: 'web', version: '2', slot: 'blue', fromSlot: null, data }, by);
        data.nested.n = 2;
        r.phase = 'retired';
        (r.data as { nested: { n: number } }).nested.n = 3;
        const state = route('web', 1, 'blue');
        await store.putRouteState(state, { expectGeneration: 0 });
        state.slots.blue.targets.push('127.0.0.1:1');
        const stored = await store.getRelease(r.id);
        assert.equal(stored?.phase, 'pending');
        assert.deepEqual(stored?.data, { nested: { n: 1 } });
        assert.deepEqual((await store.getRouteState('web'))?.slots.blue.targets, ['127.0.0.1:41001', '127.0.0.1:41002']);
      }),
    );
  });
}
