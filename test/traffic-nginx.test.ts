// The nginx adapter against Debian's nginx on loopback: switches under a steady keep-alive load (the
// drops of every reload counted and held to a bound), weights, a refused check and a stopped nginx.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CutoverError } from '../src/errors.ts';
import { createLogger } from '../src/log.ts';
import type { TrafficState } from '../src/traffic/types.ts';
import { NginxAdapter } from '../src/traffic/nginx.ts';
import { keepAliveLoad, startNginx, type NginxServer, trafficState as state } from './balancers.ts';
import { startUpstream, waitFor, type Upstream } from './helpers.ts';

const log = createLogger({ level: 'error' });
const CONNECTIONS = 20;
const SWITCHES = 6;

describe('nginx adapter', () => {
  let dir: string;
  let nginx: NginxServer;
  let adapter: NginxAdapter;
  let blue: Upstream[];
  let green: Upstream[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cutover-nginx-'));
    nginx = await startNginx(dir);
    adapter = new NginxAdapter(
      { kind: 'nginx', upstreamFile: nginx.upstreamFile, upstream: 'web', reload: nginx.reload, check: nginx.check },
      { log },
    );
    blue = [await startUpstream('blue'), await startUpstream('blue')];
    green = [await startUpstream('green'), await startUpstream('green')];
  });
  after(async () => {
    await adapter?.close();
    await nginx?.stop();
    for (const u of [...(blue ?? []), ...(green ?? [])]) await u.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('every switch through nginx reaches the new slot, and a reload drops at most one request per keep-alive connection', async () => {
    await adapter.apply(state(1, 'blue', blue, green));
    await waitFor('nginx serving blue', async () => (await fetch(`http://127.0.0.1:${nginx.port}/`)).headers.get('x-slot') === 'blue');
    const load = keepAliveLoad(nginx.port, CONNECTIONS);
    try {
      let generation = 1;
      for (let i = 0; i < SWITCHES; i++) {
        const before = load.now().ok;
        await waitFor('requests between switches', () => load.now().ok >= before + 100, 10_000);
        const live = i % 2 === 0 ? 'green' : 'blue';
        await adapter.apply(state(++generation, live, blue, green));
        const seen = await adapter.observe();
        assert.deepEqual(seen.weights, { blue: live === 'blue' ? 100 : 0, green: live === 'green' ? 100 : 0 });
        assert.match(seen.notes?.join(' ') ?? '', /may drop in-flight keep-alive requests/);
        // The new slot answers new requests once the new workers run (the old ones finish what they hold).
        await waitFor(
          `nginx serving ${live}`,
          async () => (await fetch(`http://127.0.0.1:${nginx.port}/`)).headers.get('x-slot') === live,
          5000,
        );
      }
      const total = await load.stop();
      process.stderr.write(
        `nginx: ${total.failed} failed of ${total.ok + total.failed} over ${SWITCHES} reloads at ${CONNECTIONS} connections\n`,
      );
      // The documented bound: a reload closes each idle keep-alive connection once, so at most one
      // request per connection per reload can be lost; nothing else may fail.
      assert.ok(total.failed <= CONNECTIONS * SWITCHES, `${total.failed} failed: ${total.errors.join(', ')}`);
      for (const e of total.errors) assert.doesNotMatch(e, /status/, 'nginx answered an error status instead of the slot');
      assert.ok((total.bySlot.blue ?? 0) > 100 && (total.bySlot.green ?? 0) > 100, JSON.stringify(total.bySlot));
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  });

  test('weights become nginx server weights that split the requests as asked', async () => {
    await adapter.apply(state(20, 'blue', blue, green, { blue: 80, green: 20 }));
    assert.match(readFileSync(nginx.upstreamFile, 'utf8'), /weight=40; # blue/);
    const seen = await adapter.observe();
    assert.deepEqual(seen.weights, { blue: 80, green: 20 });
    await new Promise((r) => setTimeout(r, 300)); // Old workers finish; new ones hold the new weights.
    const load = keepAliveLoad(nginx.port, 4);
    await waitFor('500 answers', () => load.now().ok >= 500, 10_000);
    const total = await load.stop();
    const share = (total.bySlot.green ?? 0) / total.ok;
    assert.ok(share > 0.12 && share < 0.28, `green answered ${(share * 100).toFixed(1)}% of ${total.ok}`);
  });

  test('an upstream file nginx -t refuses fails the switch, and the old file is put back', async () => {
    const good = readFileSync(nginx.upstreamFile, 'utf8');
    const bad: TrafficState = {
      ...state(30, 'green', blue, green),
      slots: { blue: { version: '1', targets: [] }, green: { version: '2', targets: ['nowhere.invalid:80'] } },
    };
    await assert.rejects(adapter.apply(bad), (err: CutoverError) => {
      assert.equal(err.code, 'CUTOVER_E_TRAFFIC_REFUSED');
      assert.match(err.message, /the old file is back/);
      return true;
    });
    assert.equal(readFileSync(nginx.upstreamFile, 'utf8'), good);
  });
});

test('a switch with nginx not running fails as unreachable and leaves the old upstream file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-nginx-down-'));
  const nginx = await startNginx(dir);
  await nginx.stop();
  const adapter = new NginxAdapter(
    { kind: 'nginx', upstreamFile: nginx.upstreamFile, upstream: 'web', reload: nginx.reload, check: nginx.check },
    { log },
  );
  try {
    const s: TrafficState = {
      generation: 2,
      live: 'blue',
      weights: { blue: 100, green: 0 },
      slots: { blue: { version: '1', targets: ['127.0.0.1:1'] }, green: { version: null, targets: [] } },
    };
    await assert.rejects(adapter.apply(s), (err: CutoverError) => {
      assert.equal(err.code, 'CUTOVER_E_TRAFFIC_UNREACHABLE');
      assert.match(err.message, /is nginx running/);
      return true;
    });
    assert.match(readFileSync(nginx.upstreamFile, 'utf8'), /127\.0\.0\.1:9 down/, 'the old file is back');
  } finally {
    await adapter.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
