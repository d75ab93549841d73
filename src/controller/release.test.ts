// The release steps against a memory store and a runtime and provider that only record what they are
// told: which phases a release goes through, and what a failure after traffic moved does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServiceConfig, SlotName } from '../config/types.ts';
import { createLogger } from '../log.ts';
import type { Provider, SlotDeployment } from '../providers/types.ts';
import { MemoryStore } from '../../test/fixtures/memory-store.ts';
import { derivePhase } from '../lifecycle.ts';
import type { Phase, RouteState } from '../store/types.ts';
import { ReleaseController } from './release.ts';
import type { ServiceRuntime } from './service.ts';

class FakeRuntime {
  cfg = {
    name: 'web',
    listen: '127.0.0.1:1',
    approval: 'auto',
    gates: [],
    shift: 'instant',
    preview: { header: 'x-cutover-preview' },
    analysis: { window: 300, interval: 50, rules: [], minSamples: 0, failureLimit: 2, inconclusive: 'hold' },
    standby: 60_000,
    drain: 0,
    health: { interval: 10 },
  } as unknown as ServiceConfig;
  // No rules: every analysis run passes; what these tests watch is health.
  sources = { router: { measure: async () => Promise.reject(new Error('no rules, nothing to measure')) } };
  state: RouteState = {
    service: 'web',
    live: null,
    weights: { blue: 0, green: 0 },
    generation: 1,
    slots: { blue: { version: null, targets: [] }, green: { version: null, targets: [] } },
  };
  healthy = new Set<string>();
  /** The embedded router: clients follow a switch at once. */
  readonly traffic = { settleAfter: 0 };
  routeState(): RouteState {
    return this.state;
  }
  async setSlot(slot: SlotName, d: { version: string | null; targets: string[] }): Promise<RouteState> {
    this.state = {
      ...this.state,
      generation: this.state.generation + 1,
      slots: { ...this.state.slots, [slot]: { version: d.version, targets: d.targets } },
    };
    return this.state;
  }
  async switchTo(slot: SlotName): Promise<RouteState> {
    this.state = {
      ...this.state,
      generation: this.state.generation + 1,
      live: slot,
      weights: slot === 'blue' ? { blue: 100, green: 0 } : { blue: 0, green: 100 },
    };
    return this.state;
  }
  async setRoutes(patch: Partial<RouteState>): Promise<RouteState> {
    this.state = { ...this.state, ...patch, generation: this.state.generation + 1 };
    return this.state;
  }
  async clearLive(): Promise<RouteState> {
    this.state = { ...this.state, generation: this.state.generation + 1, live: null, weights: { blue: 0, green: 0 } };
    return this.state;
  }
  async waitHealthy(targets: string[]): Promise<void> {
    const bad = targets.filter((t) => !this.healthy.has(t));
    if (bad.length > 0) throw new Error(`not healthy: ${bad.join(', ')}`);
  }
  targetHealth(address: string) {
    return { address, healthy: this.healthy.has(address), lastError: null, lastCheck: 0, passes: 0, failures: 0 };
  }
}

function fakeProvider(): Provider & { running: Map<SlotName, SlotDeployment> } {
  const running = new Map<SlotName, SlotDeployment>();
  return {
    kind: 'process',
    service: 'web',
    capabilities: { reprovisionAfterRestart: true, fixedTargets: false },
    lastOutput: async () => [],
    configuredTargets: () => [],
    running,
    async provision(slot, version) {
      const d = { slot, version, targets: [`${slot}-${version}:1`] };
      running.set(slot, d);
      return d;
    },
    async stop(slot) {
      running.delete(slot);
    },
    deployment: (slot) => running.get(slot) ?? null,
    replicas: () => [],
    onReplicaEvent: () => () => {},
    async close() {},
  };
}

async function setup() {
  const store = new MemoryStore();
  const rt = new FakeRuntime();
  const provider = fakeProvider();
  const log = createLogger({ write: () => {} });
  const c = new ReleaseController({
    runtime: rt as unknown as ServiceRuntime,
    provider,
    store,
    stateDir: '/nonexistent',
    configDir: '/nonexistent',
    log,
  });
  await c.resume();
  const phaseOf = async (id: string) => (await store.getRelease(id))!.phase;
  const until = async (id: string, phase: Phase) => {
    const deadline = Date.now() + 5000;
    while ((await phaseOf(id)) !== phase) {
      if (Date.now() > deadline) throw new Error(`release ${id} is ${await phaseOf(id)}, not ${phase}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  return { store, rt, provider, c, until };
}

test('a release goes through every phase in order, each recorded as an event the phase can be derived from', async () => {
  const { store, rt, c, until } = await setup();
  rt.healthy.add('blue-v1:1').add('green-v2:1');
  const first = await c.deploy('v1', 'test');
  await until(first.id, 'retired');
  const second = await c.deploy('v2', 'test');
  await until(second.id, 'promoted');
  const events = await store.events({ releaseId: second.id });
  assert.deepEqual(
    events.filter((e) => e.type === 'phase').map((e) => e.phase),
    ['pending', 'provisioning', 'verifying', 'shifting', 'observing', 'promoted'],
  );
  assert.equal(derivePhase(events), 'promoted');
  assert.equal(rt.state.live, 'green');
  assert.equal(rt.state.slots.blue.version, 'v1', 'v1 stands by');
  await c.close();
});

test('a release whose slot turns unhealthy while observing rolls back to the old slot by itself', async () => {
  const { rt, c, until } = await setup();
  rt.healthy.add('blue-v1:1');
  await until((await c.deploy('v1', 'test')).id, 'retired');
  rt.healthy.add('green-v2:1');
  const r = await c.deploy('v2', 'test');
  await until(r.id, 'observing');
  rt.healthy.delete('green-v2:1');
  await until(r.id, 'rolled-back');
  assert.equal(rt.state.live, 'blue');
  await c.close();
});

test('a first release is promoted once its gates pass, with no analysis window, and says so', async () => {
  const { store, rt, c, until } = await setup();
  rt.healthy.add('blue-v1:1');
  const r = await c.deploy('v1', 'test');
  await until(r.id, 'retired');
  assert.equal(rt.state.live, 'blue');
  const events = await store.events({ releaseId: r.id });
  assert.equal(events.filter((e) => e.type === 'analysis').length, 0, 'nothing to compare against: no analysis run');
  const promoted = events.find((e) => e.type === 'phase' && e.phase === 'promoted');
  assert.match(promoted?.reason ?? '', /a first release is promoted once its gates pass/);
  await c.close();
});
