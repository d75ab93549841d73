// Analysis over a real router: an in-process Router between two real upstreams, a steady bounded load,
// and the verdicts a user would see when green breaks, stays healthy, is slower than blue, or gets
// too little traffic to judge.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, beforeEach, describe, test } from 'node:test';
import { AnalysisRunner, type AnalysisRunnerOptions } from '../src/analysis/run.ts';
import { RouterSource } from '../src/analysis/router-source.ts';
import type { AnalysisRule } from '../src/config/types.ts';
import { Router } from '../src/router/router.ts';
import { freePort, startUpstream, testRouterOptions, type Upstream } from './helpers.ts';

const INTERVAL = 100;

const options = (port: number) => testRouterOptions(port);

type Mode = { status: number; delay: number; cutEvery: number };

/** An upstream whose status, delay and share of responses cut mid-body the test changes as it goes. */
async function upstream(slot: string, mode: Mode): Promise<Upstream> {
  let n = 0;
  return startUpstream(slot, (req, res) => {
    req.resume();
    const answer = (): void => {
      n++;
      if (mode.cutEvery > 0 && n % mode.cutEvery === 0) {
        res.writeHead(200, { 'content-length': '100' });
        res.write('partial');
        setImmediate(() => res.socket?.destroy());
        return;
      }
      res.statusCode = mode.status;
      res.end(slot);
    };
    if (mode.delay > 0) setTimeout(answer, mode.delay);
    else answer();
  });
}

/** A steady load: a few clients in a loop with a short pause, until stop() or a deadline. */
function load(port: number, clients = 3, maxMs = 30_000): { stop: () => Promise<void>; sent: () => number } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const deadline = Date.now() + maxMs;
  let stopped = false;
  let sent = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', resolve);
        res.on('error', () => resolve());
      });
      req.on('error', () => resolve());
    });
  const loops = Array.from({ length: clients }, async () => {
    while (!stopped && Date.now() < deadline) {
      sent++;
      await one();
      await new Promise((r) => setTimeout(r, 3));
    }
  });
  return {
    sent: () => sent,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

describe('analysis over a real router', () => {
  const blueMode: Mode = { status: 200, delay: 5, cutEvery: 0 };
  const greenMode: Mode = { status: 200, delay: 5, cutEvery: 0 };
  let blue: Upstream;
  let green: Upstream;
  let router: Router;
  let port: number;
  let source: RouterSource;
  let generation = 1;

  const liveOn = (slot: 'blue' | 'green'): void => {
    router.apply({
      service: 'web',
      generation: ++generation,
      live: slot,
      weights: { blue: slot === 'blue' ? 100 : 0, green: slot === 'green' ? 100 : 0 },
      slots: { blue: { version: 'v1', targets: [blue.address] }, green: { version: 'v2', targets: [green.address] } },
    });
  };

  const runner = (rules: AnalysisRule[], window: number, extra: Partial<AnalysisRunnerOptions['settings']> = {}): AnalysisRunner =>
    new AnalysisRunner({
      service: 'web',
      label: 'observing',
      slot: 'green',
      version: 'v2',
      settings: { interval: INTERVAL, rules, minSamples: 20, failureLimit: 2, inconclusive: 'hold', ...extra },
      window,
      sources: { router: source },
    });

  before(async () => {
    blue = await upstream('blue', blueMode);
    green = await upstream('green', greenMode);
    port = await freePort();
    router = new Router(options(port));
    await router.listen();
    router.setHealth(blue.address, true);
    router.setHealth(green.address, true);
    source = new RouterSource(() => router.metrics(), { interval: INTERVAL });
    await source.start();
  });
  after(async () => {
    source.close();
    await router.close();
    await blue.close();
    await green.close();
  });
  beforeEach(() => {
    Object.assign(blueMode, { status: 200, delay: 5, cutEvery: 0 });
    Object.assign(greenMode, { status: 200, delay: 5, cutEvery: 0 });
  });

  test('green that starts answering 500 fails the run within about failureLimit intervals, naming rule, value and threshold', async () => {
    liveOn('green');
    const traffic = load(port);
    try {
      const r = runner([{ metric: 'error_rate', max: 0.01 }], 30_000);
      await r.start();
      await new Promise((res) => setTimeout(res, 5 * INTERVAL));
      assert.equal(r.record().outcome, null, 'healthy green is not failed');
      greenMode.status = 500;
      const broke = Date.now();
      const out = await r.result();
      const took = Date.now() - broke;
      assert.equal(out.verdict, 'fail');
      assert.equal(out.action, 'rollback');
      assert.match(
        out.reason,
        /^observing failed 2 times in a row: error_rate \d+(\.\d+)?% on green is above the max 1% \(over \d+ requests\)$/,
      );
      const result = out.results[0]!;
      assert.equal(result.threshold, 0.01);
      assert.ok(result.value !== null && result.value > 0.01);
      const after = r.record().ticks.filter((t) => Date.parse(t.at) >= broke);
      assert.ok(after.length <= 3, `${after.length} ticks after the break: the one that may straddle it, then failureLimit`);
      assert.ok(took < 1500, `failed ${took}ms after green broke`);
    } finally {
      await traffic.stop();
    }
  });

  test("healthy green passes at the end of a short window, judged against blue's baseline", async () => {
    // 20ms upstreams and a loose factor: a busy machine's stalls must not read as a regression.
    blueMode.delay = 20;
    greenMode.delay = 20;
    liveOn('blue');
    const traffic = load(port, 8);
    try {
      await new Promise((res) => setTimeout(res, 1000));
      const r = runner(
        [
          { metric: 'error_rate', max: 0.01 },
          { metric: 'p99', max: 2000, baseline: 10 },
        ],
        1200,
      );
      const b = await r.captureBaseline('blue', 'v1', 900);
      assert.ok(b.measurements[0]!.samples >= 100, `blue served ${b.measurements[0]!.samples} requests for its baseline`);
      liveOn('green');
      await r.start();
      const out = await r.result();
      assert.equal(out.verdict, 'pass', out.reason);
      assert.equal(out.action, 'continue');
      const final = r.record().ticks.at(-1)!;
      assert.equal(final.kind, 'window');
      assert.ok(final.measurements[0]!.samples >= 50, `${final.measurements[0]!.samples} requests judged`);
      assert.ok(final.results[1]!.baselineValue! >= 20, "the baseline is blue's real p99 (its upstream takes 20ms)");
    } finally {
      await traffic.stop();
    }
  });

  test("green much slower than blue fails its baseline rule, naming blue's value", async () => {
    liveOn('blue');
    const traffic = load(port, 8);
    try {
      await new Promise((res) => setTimeout(res, 600));
      // The median: a busy machine's stalls move a p99 of a few hundred requests, hardly a p50.
      const r = runner([{ metric: 'p50', baseline: 1.5 }], 5000);
      await r.captureBaseline('blue', 'v1', 500);
      greenMode.delay = 100;
      liveOn('green');
      await r.start();
      const out = await r.result();
      assert.equal(out.verdict, 'fail', out.reason);
      // Usually two ticks in a row; on a starved machine too few requests reach a tick and the window decides.
      assert.match(out.reason, /^observing failed .*: p50 \d+(\.\d+)?ms on green is above 1.5x blue's \d+(\.\d+)?ms = \d+(\.\d+)?ms/);
    } finally {
      await traffic.stop();
    }
  });

  test('too little traffic is inconclusive at the end of the window, and held', async () => {
    liveOn('green');
    const r = runner([{ metric: 'error_rate', max: 0.01 }], 600);
    await r.start();
    const few = load(port, 1, 10_000);
    await new Promise((res) => setTimeout(res, 30));
    await few.stop();
    assert.ok(few.sent() < 20, `${few.sent()} requests`);
    const out = await r.result();
    assert.equal(out.verdict, 'inconclusive');
    assert.equal(out.action, 'hold');
    assert.match(out.reason, /error_rate \d+ requests on green, fewer than minSamples 20: too little traffic to judge/);
    assert.ok(
      r.record().ticks.every((t) => t.verdict !== 'pass'),
      'no tick passed either',
    );
  });

  test("responses cut mid-body count once each in the error rate, as the router's 502", async () => {
    liveOn('green');
    greenMode.cutEvery = 4;
    greenMode.delay = 0;
    await source.checkpoint();
    const since = Date.now();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    let failed = 0;
    for (let i = 0; i < 200; i++) {
      const status = await new Promise<number>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', () => resolve(-1));
          res.on('aborted', () => resolve(-1));
        });
        req.on('error', () => resolve(-1));
      });
      if (status === -1 || status >= 500) failed++;
    }
    agent.destroy();
    const m = await source.measure({ metric: 'error_rate', max: 0.01 }, { slot: 'green', version: 'v2', sinceMs: since });
    const upstreamErrors = router.metrics().slots.green.upstreamErrors;
    assert.equal(m.samples, 200);
    assert.ok(failed >= 40, `${failed} of 200 failed for the client`);
    assert.equal(m.value, failed / 200, 'the error rate is what the clients saw, not twice that');
    assert.ok(upstreamErrors >= failed, 'the router also counted them as upstream errors');
  });
});
