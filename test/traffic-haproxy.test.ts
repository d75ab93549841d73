// The HAProxy adapter against Debian's HAProxy on loopback: switches under a steady keep-alive load,
// weights, a restarted HAProxy, and a balancer that cannot be reached or refuses.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CutoverError } from '../src/errors.ts';
import { createLogger } from '../src/log.ts';
import { HaproxyAdapter } from '../src/traffic/haproxy.ts';
import { keepAliveLoad, startHaproxy, type HaproxyServer, trafficState as state } from './balancers.ts';
import { startUpstream, waitFor, type Upstream } from './helpers.ts';

const log = createLogger({ level: 'error' });

describe('HAProxy adapter', () => {
  let dir: string;
  let haproxy: HaproxyServer;
  let blue: Upstream[];
  let green: Upstream[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cutover-haproxy-'));
    haproxy = await startHaproxy(dir);
    blue = [await startUpstream('blue'), await startUpstream('blue')];
    green = [await startUpstream('green'), await startUpstream('green')];
  });
  after(async () => {
    await haproxy?.stop();
    for (const u of [...(blue ?? []), ...(green ?? [])]) await u.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('switching back and forth through HAProxy under a keep-alive load fails no request', async () => {
    const adapter = new HaproxyAdapter({ kind: 'haproxy', socket: haproxy.socket, backend: 'web' }, { log });
    try {
      await adapter.apply(state(1, 'blue', blue, green));
      const load = keepAliveLoad(haproxy.port, 20);
      try {
        let generation = 1;
        for (let i = 0; i < 6; i++) {
          const before = load.now().ok;
          await waitFor('requests between switches', () => load.now().ok >= before + 100, 10_000);
          const live = i % 2 === 0 ? 'green' : 'blue';
          await adapter.apply(state(++generation, live, blue, green));
          const seen = await adapter.observe();
          assert.deepEqual(seen.weights, { blue: live === 'blue' ? 100 : 0, green: live === 'green' ? 100 : 0 });
          assert.deepEqual(seen.targets[live].sort(), (live === 'blue' ? blue : green).map((u) => u.address).sort());
        }
        const total = await load.stop();
        assert.equal(total.failed, 0, `failed requests: ${total.errors.join(', ')}`);
        assert.ok((total.bySlot.blue ?? 0) > 100 && (total.bySlot.green ?? 0) > 100, JSON.stringify(total.bySlot));
      } finally {
        // A failed assertion must stop the load too, or its clients would run on until their deadline.
        await load.stop();
      }
    } finally {
      await adapter.close();
    }
  });

  test('weights split the requests between the slots as a progressive shift asks', async () => {
    const adapter = new HaproxyAdapter({ kind: 'haproxy', socket: haproxy.socket, backend: 'web' }, { log });
    try {
      await adapter.apply(state(10, 'blue', blue, green, { blue: 75, green: 25 }));
      const seen = await adapter.observe();
      assert.ok(Math.abs((seen.weights?.green ?? 0) - 25) <= 1, JSON.stringify(seen.weights));
      const load = keepAliveLoad(haproxy.port, 4);
      await waitFor('400 answers', () => load.now().ok >= 400, 10_000);
      const total = await load.stop();
      const share = (total.bySlot.green ?? 0) / total.ok;
      assert.ok(share > 0.18 && share < 0.32, `green answered ${(share * 100).toFixed(1)}% of ${total.ok}`);
    } finally {
      await adapter.close();
    }
  });

  test('a restarted HAProxy gets the route table back without anyone asking', async () => {
    const adapter = new HaproxyAdapter({ kind: 'haproxy', socket: haproxy.socket, backend: 'web' }, { log, watchInterval: 100 });
    try {
      await adapter.apply(state(20, 'green', blue, green));
      await haproxy.stop();
      haproxy = await startHaproxy(dir, { port: haproxy.port });
      const seen = await waitFor('HAProxy serving green again', async () => {
        const o = await adapter.observe();
        return o.targets.green.length === green.length ? o : undefined;
      });
      assert.deepEqual(seen.weights, { blue: 0, green: 100 });
      assert.match(seen.notes?.join(' ') ?? '', /applied again after 1 HAProxy restart/);
      const r = await fetch(`http://127.0.0.1:${haproxy.port}/`);
      assert.equal(r.headers.get('x-slot'), 'green');
    } finally {
      await adapter.close();
    }
  });

  test('an unknown backend is refused with a coded reason that names it', async () => {
    const adapter = new HaproxyAdapter({ kind: 'haproxy', socket: haproxy.socket, backend: 'nope' }, { log });
    try {
      await assert.rejects(adapter.apply(state(30, 'blue', blue, green)), (err: CutoverError) => {
        assert.equal(err.code, 'CUTOVER_E_TRAFFIC_REFUSED');
        assert.match(err.message, /backend nope/);
        return true;
      });
    } finally {
      await adapter.close();
    }
  });

  test('a socket nobody listens on fails the switch as unreachable and says how to fix it', async () => {
    const adapter = new HaproxyAdapter({ kind: 'haproxy', socket: join(dir, 'missing.sock'), backend: 'web' }, { log });
    try {
      await assert.rejects(adapter.apply(state(40, 'blue', blue, green)), (err: CutoverError) => {
        assert.equal(err.code, 'CUTOVER_E_TRAFFIC_UNREACHABLE');
        assert.match(err.message, /level admin/);
        return true;
      });
    } finally {
      await adapter.close();
    }
  });
});

test('HAProxy refuses a switch through a stats socket without level admin, and the adapter says so', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-haproxy-op-'));
  const haproxy = await startHaproxy(dir, { level: 'operator' });
  const up = await startUpstream('blue');
  const adapter = new HaproxyAdapter({ kind: 'haproxy', socket: haproxy.socket, backend: 'web' }, { log });
  try {
    await assert.rejects(adapter.apply(state(1, 'blue', [up], [])), (err: CutoverError) => {
      assert.equal(err.code, 'CUTOVER_E_TRAFFIC_REFUSED');
      assert.match(err.message, /level admin/);
      return true;
    });
  } finally {
    await adapter.close();
    await haproxy.stop();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
