// The Prometheus source end to end: Debian's Prometheus scrapes the real daemon's /metrics, and a
// templated PromQL error ratio over cutover's own counters tells a failing slot from a healthy one.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { judge } from '../src/analysis/judge.ts';
import { PrometheusSource } from '../src/analysis/prometheus-source.ts';
import type { AnalysisRule } from '../src/config/types.ts';
import { startDaemon, startUpstream, waitFor, type Daemon, type Upstream } from './helpers.ts';
import { startPrometheus, type RunningPrometheus } from './prometheus.ts';

/** Requests sent through the router to each slot. */
const REQUESTS = 40;

const errorRatio: AnalysisRule = {
  metric: 'prometheus',
  query:
    'sum(rate(cutover_requests_total{service="{{service}}",slot="{{slot}}",class="5xx"}[{{window}}]))' +
    ' / sum(rate(cutover_requests_total{service="{{service}}",slot="{{slot}}"}[{{window}}]))',
  max: 0.05,
};

describe("the Prometheus source against a real Prometheus scraping cutover's /metrics", () => {
  let blue: Upstream;
  let green: Upstream;
  let d: Daemon | null = null;
  let prom: RunningPrometheus | null = null;
  let since = 0;

  /** Sends REQUESTS requests through the router, spread over about two scrapes, and returns the statuses and slots seen. */
  async function traffic(): Promise<{ statuses: Set<number>; slots: Set<string | null> }> {
    const statuses = new Set<number>();
    const slots = new Set<string | null>();
    for (let i = 0; i < REQUESTS; i++) {
      const res = await fetch(`http://127.0.0.1:${d!.port}/item/${i}`, { signal: AbortSignal.timeout(3000) });
      await res.arrayBuffer();
      statuses.add(res.status);
      slots.add(res.headers.get('x-slot'));
      await new Promise((r) => setTimeout(r, 50));
    }
    return { statuses, slots };
  }

  /** What Prometheus has stored for one of cutover's request counters, or -1 when it has no such series. */
  async function scraped(slot: string, cls: string): Promise<number> {
    const r = await prom!.query(`cutover_requests_total{service="web",slot="${slot}",class="${cls}"}`);
    return r.length === 1 ? Number(r[0]!.value[1]) : -1;
  }

  before(async () => {
    blue = await startUpstream('blue');
    green = await startUpstream('green', (req, res) => {
      req.resume();
      req.on('end', () => {
        res.statusCode = 500;
        res.end('green is broken');
      });
    });
    d = await startDaemon([blue.address], [green.address]);
    // /metrics takes no token (src/api/server.ts): the API listens on loopback.
    prom = await startPrometheus([
      { job_name: 'cutover', scrape_interval: '1s', metrics_path: '/metrics', static_configs: [{ targets: [`127.0.0.1:${d.apiPort}`] }] },
    ]);
    await waitFor('the first scrape of cutover', async () => (await scraped('green', '5xx')) === 0, 30_000);
    since = Date.now();

    const onBlue = await traffic();
    assert.deepEqual([[...onBlue.statuses], [...onBlue.slots]], [[200], ['blue']], 'blue is live and answers 200');
    const sw = await d.switchTo('green');
    assert.equal(sw.status, 200, JSON.stringify(sw.json));
    const onGreen = await traffic();
    assert.deepEqual([[...onGreen.statuses], [...onGreen.slots]], [[500], ['green']], 'green is live and answers 500');

    await waitFor(
      "Prometheus to have scraped both slots' traffic",
      async () => (await scraped('blue', '2xx')) >= REQUESTS && (await scraped('green', '5xx')) >= REQUESTS,
      15_000,
    );
  });

  after(async () => {
    await prom?.stop();
    await d?.stop();
    await blue?.close();
    await green?.close();
  });

  const source = (): PrometheusSource => new PrometheusSource({ url: prom!.url, service: 'web', timeout: 3000 });

  test('the error ratio of the slot that answered 500 is 1, and the rule fails it', async () => {
    const m = await source().measure(errorRatio, { slot: 'green', version: 'v2', sinceMs: since });
    assert.equal(m.error, undefined);
    assert.ok(m.value !== null && Math.abs(m.value - 1) < 0.01, `green's error ratio is ${m.value}`);
    const r = judge(errorRatio, m, { minSamples: 20 });
    assert.equal(r.verdict, 'fail');
    assert.match(r.reason, /on green is above the max 0.05/);
  });

  test('the error ratio of the slot that answered 200 is 0, and the rule passes it', async () => {
    const m = await source().measure(errorRatio, { slot: 'blue', version: 'v1', sinceMs: since });
    assert.equal(m.error, undefined);
    assert.equal(m.value, 0);
    assert.equal(judge(errorRatio, m, { minSamples: 20 }).verdict, 'pass');
  });
});
