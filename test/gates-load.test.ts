// The load gate against real servers, kept short (2 s at modest rates: the box is shared): a version
// with 5% errors fails, a healthy one passes, a slow one fails on p99, and too little data is no pass.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runLoadGate, type LoadStats } from '../src/gates/load.ts';
import type { GateContext, LoadGate } from '../src/gates/types.ts';
import { startUpstream, type Upstream } from './helpers.ts';

function ctx(directTargets: string[], extra: Partial<GateContext> = {}): GateContext {
  return {
    service: 'web',
    version: 'v2',
    slot: 'green',
    previewUrl: 'http://127.0.0.1:1',
    previewHeader: 'x-cutover-preview',
    previewToken: 'tok-load-1',
    directTargets,
    cwd: process.cwd(),
    ...extra,
  };
}

const gate = (extra: Partial<LoadGate> = {}): LoadGate => ({ rate: 100, duration: 2000, connections: 4, maxErrorRate: 0.01, ...extra });

describe('load gate', () => {
  let healthy: Upstream;
  let healthy2: Upstream;
  let flaky: Upstream;
  let slow: Upstream;
  const hits = { healthy: 0, healthy2: 0 };

  before(async () => {
    healthy = await startUpstream('green', () => {
      hits.healthy++;
      return false;
    });
    healthy2 = await startUpstream('green', () => {
      hits.healthy2++;
      return false;
    });
    let n = 0;
    // Exactly one request in twenty answers 500: a 5% error rate.
    flaky = await startUpstream('green', (_req, res) => {
      if (++n % 20 === 0) {
        res.statusCode = 500;
        res.end('oops');
        return true;
      }
      return false;
    });
    let m = 0;
    // One request in ten takes 300 ms: p99 is about 300 ms while the median stays fast.
    slow = await startUpstream('green', (_req, res) => {
      if (++m % 10 === 0) {
        setTimeout(() => res.end('slow'), 300);
        return true;
      }
      return false;
    });
  });
  after(async () => {
    await Promise.all([healthy.close(), healthy2.close(), flaky.close(), slow.close()]);
  });

  test('a version that answers 500 to 5% of requests fails a gate that allows 1%', async () => {
    const r = await runLoadGate(gate(), ctx([flaky.address]));
    const s = r.details as unknown as LoadStats;
    assert.equal(r.outcome, 'failed', r.summary);
    assert.ok(s.requests >= 150, `requests: ${s.requests}`);
    assert.ok(Math.abs(s.errorRate - 0.05) < 0.01, `error rate ${s.errorRate}`);
    assert.ok((s.statusCodes['500'] ?? 0) > 0);
    assert.match(r.summary, /^error rate [45](\.\d+)?% above 1% \(\d+ of \d+ requests\); \d+ requests at \d+ req\/s$/);
  });

  test('a healthy version passes, with the load spread over every target of the idle slot', async () => {
    hits.healthy = 0;
    hits.healthy2 = 0;
    const r = await runLoadGate(gate({ maxP99: 250 }), ctx([healthy.address, healthy2.address]));
    const s = r.details as unknown as LoadStats;
    assert.equal(r.outcome, 'passed', r.summary);
    assert.equal(s.via, 'direct');
    assert.equal(s.errorRate, 0);
    assert.ok(s.requests >= 150 && s.requests <= 260, `about rate x duration requests: ${s.requests}`);
    assert.ok(hits.healthy > s.requests / 4 && hits.healthy2 > s.requests / 4, `both targets took load: ${hits.healthy}, ${hits.healthy2}`);
    assert.match(r.summary, /^\d+ requests, error rate 0%, p99 \d+(\.\d+)? (ms|s) at \d+ req\/s$/);
  });

  test('a version whose slowest requests take 300 ms fails a p99 of 100 ms', async () => {
    const r = await runLoadGate(gate({ rate: 60, maxP99: 100 }), ctx([slow.address]));
    const s = r.details as unknown as LoadStats;
    assert.equal(r.outcome, 'failed', r.summary);
    assert.ok(s.latencyMs.p99 >= 250, `p99 ${s.latencyMs.p99}`);
    assert.ok(s.latencyMs.p50 < 100, `p50 ${s.latencyMs.p50}`);
    assert.equal(s.errorRate, 0);
    assert.match(r.summary, /^p99 \d+ ms above 100 ms; /);
  });

  test('a version that answers nothing in time is an error, never a pass', async () => {
    const mute = await startUpstream('green', () => true);
    try {
      const r = await runLoadGate(gate({ duration: 1000, rate: 20, maxErrorRate: 1 }), ctx([mute.address]));
      assert.equal(r.outcome, 'error', r.summary);
      assert.match(r.summary, /^only 0 requests completed in .*too few to judge \(at least 10\)/);
    } finally {
      await mute.close();
    }
  });

  test("without the idle slot's targets, load goes through the preview route with the token", async () => {
    const seen: (string | undefined)[] = [];
    const router = await startUpstream('green', (req) => {
      seen.push(req.headers['x-cutover-preview'] as string | undefined);
      return false;
    });
    try {
      const r = await runLoadGate(gate({ rate: 30, duration: 1000 }), ctx([], { previewUrl: `http://${router.address}` }));
      assert.equal(r.outcome, 'passed', r.summary);
      assert.equal((r.details as unknown as LoadStats).via, 'preview');
      assert.ok(seen.length >= 10 && seen.every((h) => h === 'tok-load-1'));
      assert.ok(!JSON.stringify(r).includes('tok-load-1'));
    } finally {
      await router.close();
    }
  });

  test('an aborted release stops the load early', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const t0 = Date.now();
    const r = await runLoadGate(gate({ rate: 20, duration: 10_000 }), ctx([healthy.address], { signal: ac.signal }));
    assert.equal(r.outcome, 'error');
    assert.equal(r.details.aborted, true);
    assert.ok(Date.now() - t0 < 2500, `stopped after ${Date.now() - t0} ms`);
  });
});
