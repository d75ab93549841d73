// The Caddy adapter against Debian's Caddy on loopback: switches under a steady keep-alive load (the
// drops of every config reload counted and held to a bound), the idle upstream connections a switch
// leaves on the old slot, weights by repeated upstreams, and an admin API that refuses or is gone.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CutoverError } from '../src/errors.ts';
import { createLogger } from '../src/log.ts';
import type { TrafficState } from '../src/traffic/types.ts';
import { CaddyAdapter, upstreamList } from '../src/traffic/caddy.ts';
import { keepAliveLoad, startCaddy, type CaddyServer, trafficState as state } from './balancers.ts';
import { freePort, startUpstream, waitFor, type Upstream } from './helpers.ts';

const log = createLogger({ level: 'error' });
const CONNECTIONS = 20;
const SWITCHES = 6;

const openConnections = (ups: Upstream[]): Promise<number> =>
  Promise.all(ups.map((u) => new Promise<number>((r) => u.server.getConnections((_e, n) => r(n))))).then((n) =>
    n.reduce((a, b) => a + b, 0),
  );

describe('Caddy adapter', () => {
  let dir: string;
  let caddy: CaddyServer;
  let adapter: CaddyAdapter;
  let blue: Upstream[];
  let green: Upstream[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cutover-caddy-'));
    // The mitigation the README recommends: idle upstream connections end after 1 s instead of 2 min.
    caddy = await startCaddy(dir, { upstreamIdle: '1s' });
    adapter = new CaddyAdapter({ kind: 'caddy', admin: caddy.admin, route: caddy.route }, { log });
    blue = [await startUpstream('blue'), await startUpstream('blue')];
    green = [await startUpstream('green'), await startUpstream('green')];
  });
  after(async () => {
    await adapter?.close();
    await caddy?.stop();
    for (const u of [...(blue ?? []), ...(green ?? [])]) await u.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('every switch through Caddy reaches the new slot, a reload drops at most one request per keep-alive connection, and the old slot is left no idle connection', async () => {
    await adapter.apply(state(1, 'blue', blue, green));
    const load = keepAliveLoad(caddy.port, CONNECTIONS);
    try {
      let generation = 1;
      const leftBehind: number[] = [];
      for (let i = 0; i < SWITCHES; i++) {
        const before = load.now().ok;
        await waitFor('requests between switches', () => load.now().ok >= before + 100, 10_000);
        const live = i % 2 === 0 ? 'green' : 'blue';
        await adapter.apply(state(++generation, live, blue, green));
        const seen = await adapter.observe();
        assert.deepEqual(seen.weights, { blue: live === 'blue' ? 100 : 0, green: live === 'green' ? 100 : 0 });
        assert.match(seen.notes?.join(' ') ?? '', /may drop in-flight keep-alive requests/);
        await waitFor(
          `Caddy serving ${live}`,
          async () => (await fetch(`http://127.0.0.1:${caddy.port}/`)).headers.get('x-slot') === live,
          5000,
        );
        leftBehind.push(await openConnections(live === 'green' ? blue : green));
      }
      const total = await load.stop();
      process.stderr.write(
        `caddy: ${total.failed} failed of ${total.ok + total.failed} over ${SWITCHES} switches at ${CONNECTIONS} connections; connections open to the old slot just after each switch: ${leftBehind.join(', ')}\n`,
      );
      assert.ok(total.failed <= CONNECTIONS * SWITCHES, `${total.failed} failed: ${total.errors.join(', ')}`);
      for (const e of total.errors) assert.doesNotMatch(e, /status/, 'Caddy answered an error status instead of the slot');
      assert.ok((total.bySlot.blue ?? 0) > 100 && (total.bySlot.green ?? 0) > 100, JSON.stringify(total.bySlot));
      // With a 1 s upstream idle timeout nothing stays open to the slot that no longer gets traffic.
      await waitFor('the old slot without idle connections', async () => (await openConnections(green)) === 0, 5000);
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  });

  test('weights are made of repeated upstreams, so a 25/75 shift splits the requests as asked', async () => {
    assert.deepEqual(upstreamList(state(1, 'blue', blue.slice(0, 1), green.slice(0, 1), { blue: 25, green: 75 })), [
      blue[0]?.address,
      green[0]?.address,
      green[0]?.address,
      green[0]?.address,
    ]);
    await adapter.apply(state(20, 'blue', blue, green, { blue: 75, green: 25 }));
    const seen = await adapter.observe();
    assert.ok(Math.abs((seen.weights?.green ?? 0) - 25) <= 1, JSON.stringify(seen.weights));
    const load = keepAliveLoad(caddy.port, 4);
    await waitFor('400 answers', () => load.now().ok >= 400, 10_000);
    const total = await load.stop();
    const share = (total.bySlot.green ?? 0) / total.ok;
    assert.ok(share > 0.15 && share < 0.35, `green answered ${(share * 100).toFixed(1)}% of ${total.ok}`);
  });

  test('a route id Caddy does not know is refused with a coded reason', async () => {
    const other = new CaddyAdapter({ kind: 'caddy', admin: caddy.admin, route: 'nope' }, { log });
    await assert.rejects(other.apply(state(30, 'blue', blue, green)), (err: CutoverError) => {
      assert.equal(err.code, 'CUTOVER_E_TRAFFIC_REFUSED');
      assert.match(err.message, /nope/);
      return true;
    });
  });
});

test('a switch with no Caddy admin API listening fails as unreachable', async () => {
  const adapter = new CaddyAdapter({ kind: 'caddy', admin: `http://127.0.0.1:${await freePort()}`, route: 'web' }, { log });
  const s: TrafficState = {
    generation: 2,
    live: 'blue',
    weights: { blue: 100, green: 0 },
    slots: { blue: { version: '1', targets: ['127.0.0.1:1'] }, green: { version: null, targets: [] } },
  };
  await assert.rejects(adapter.apply(s), (err: CutoverError) => {
    assert.equal(err.code, 'CUTOVER_E_TRAFFIC_UNREACHABLE');
    assert.match(err.message, /is Caddy running/);
    return true;
  });
});
