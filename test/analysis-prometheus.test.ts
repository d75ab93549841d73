// PrometheusSource against a real Prometheus (Debian's `prometheus` package) that scrapes a small test
// exporter of this file every second. Fixed values make the query path exact: templates, results,
// errors, and the verdicts they make. analysis-prometheus-cutover.test.ts scrapes cutover's own /metrics.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { judge } from '../src/analysis/judge.ts';
import { PrometheusSource } from '../src/analysis/prometheus-source.ts';
import { AnalysisRunner } from '../src/analysis/run.ts';
import type { AnalysisRule } from '../src/config/types.ts';
import { waitFor } from './helpers.ts';
import { startPrometheus, type RunningPrometheus } from './prometheus.ts';

const SINCE = () => Date.now() - 30_000;

describe('the Prometheus source against a real Prometheus scraping a test exporter', () => {
  let exporter: http.Server;
  let prom: RunningPrometheus | null = null;
  let url: string;
  let scrapes = 0;

  before(async () => {
    exporter = http.createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.statusCode = 404;
        res.end();
        return;
      }
      scrapes++;
      res.setHeader('content-type', 'text/plain; version=0.0.4');
      res.end(
        [
          '# HELP cutover_test_error_ratio Share of failed requests, per slot (test exporter).',
          '# TYPE cutover_test_error_ratio gauge',
          'cutover_test_error_ratio{service="web",slot="green",version="v2"} 0.25',
          'cutover_test_error_ratio{service="web",slot="blue",version="v1"} 0.001',
          '# HELP cutover_test_requests_total Requests, per slot (test exporter).',
          '# TYPE cutover_test_requests_total counter',
          `cutover_test_requests_total{service="web",slot="green",version="v2"} ${scrapes * 10}`,
          '',
        ].join('\n'),
      );
    });
    await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r));
    const exporterPort = (exporter.address() as { port: number }).port;
    prom = await startPrometheus([
      { job_name: 'cutover-test-exporter', scrape_interval: '1s', static_configs: [{ targets: [`127.0.0.1:${exporterPort}`] }] },
    ]);
    url = prom.url;
    const p = prom;
    await waitFor(
      'the first scrape to be queryable',
      async () => (await p.query('count(cutover_test_error_ratio)'))[0]?.value[1] === '2',
      30_000,
    );
  });

  after(async () => {
    await prom?.stop();
    await new Promise<void>((r) => (exporter ? exporter.close(() => r()) : r()));
  });

  const source = (): PrometheusSource => new PrometheusSource({ url, service: 'web', timeout: 3000 });
  const ratio: AnalysisRule = {
    metric: 'prometheus',
    query: 'cutover_test_error_ratio{service="{{service}}",slot="{{slot}}",version="{{version}}"}',
    max: 0.1,
  };

  test('a templated query measures the slot and version it is asked about', async () => {
    const green = await source().measure(ratio, { slot: 'green', version: 'v2', sinceMs: SINCE() });
    assert.deepEqual([green.value, green.samples, green.error], [0.25, 1, undefined]);
    const blue = await source().measure(ratio, { slot: 'blue', version: 'v1', sinceMs: SINCE() });
    assert.equal(blue.value, 0.001);
    assert.equal(judge(ratio, green, { minSamples: 20 }).verdict, 'fail');
    assert.equal(judge(ratio, blue, { minSamples: 20 }).verdict, 'pass');
  });

  test("{{window}} becomes a range, so a rate over the run's window works", async () => {
    const rule: AnalysisRule = {
      metric: 'prometheus',
      query: 'sum(rate(cutover_test_requests_total{slot="{{slot}}"}[{{window}}]))',
      min: 1,
    };
    // The counter grows 10 per scrape, once a second; rate() needs a few scrapes inside [4s] to say so.
    let last: number | null = null;
    await waitFor(
      'a rate of about 10 per second',
      async () => {
        const r = await source().measure(rule, { slot: 'green', version: 'v2', sinceMs: Date.now() - 4000 });
        last = r.value;
        return r.value !== null && r.value > 5 && r.value < 15;
      },
      20_000,
    ).catch((err: Error) => assert.fail(`${err.message}; last value ${last}`));
  });

  test('a query that matches nothing measures nothing, which is inconclusive', async () => {
    const m = await source().measure(ratio, { slot: 'green', version: 'v9', sinceMs: SINCE() });
    assert.deepEqual([m.value, m.samples, m.error], [null, 0, undefined]);
    const r = judge(ratio, m, { minSamples: 20 });
    assert.equal(r.verdict, 'inconclusive');
    assert.match(r.reason, /returned no data for green/);
  });

  test('a query Prometheus rejects is an error with its message, and inconclusive', async () => {
    const bad: AnalysisRule = { metric: 'prometheus', query: 'sum(cutover_test_error_ratio{slot="{{slot}}"}', max: 1 };
    const m = await source().measure(bad, { slot: 'green', version: 'v2', sinceMs: SINCE() });
    assert.equal(m.value, null);
    assert.match(m.error ?? '', /^Prometheus rejected `sum\(cutover_test_error_ratio\{slot="green"\}` \(bad_data\): .*parse error/);
    assert.equal(judge(bad, m, { minSamples: 20 }).verdict, 'inconclusive');
  });

  test('a query that returns several series asks to be aggregated', async () => {
    const many: AnalysisRule = { metric: 'prometheus', query: 'cutover_test_error_ratio', max: 1 };
    const m = await source().measure(many, { slot: 'green', version: 'v2', sinceMs: SINCE() });
    assert.match(m.error ?? '', /returned 2 series; aggregate it/);
  });

  test('a run on a failing Prometheus rule fails with the query, value and threshold; an erroring one never passes', async () => {
    const settings = { interval: 100, minSamples: 20, failureLimit: 2, inconclusive: 'pass' as const };
    const failing = new AnalysisRunner({
      service: 'web',
      slot: 'green',
      version: 'v2',
      settings: { ...settings, rules: [ratio] },
      window: 5000,
      sources: { router: source(), prometheus: source() },
    });
    await failing.start();
    const out = await failing.result();
    assert.equal(out.verdict, 'fail');
    assert.match(out.reason, /prometheus `cutover_test_error_ratio\{service="\{\{service\}\}".*` 0.25 on green is above the max 0.1/);

    const bad: AnalysisRule = { metric: 'prometheus', query: 'sum(', max: 1 };
    const erroring = new AnalysisRunner({
      service: 'web',
      slot: 'green',
      version: 'v2',
      settings: { ...settings, rules: [bad] },
      window: 400,
      sources: { router: source(), prometheus: source() },
    });
    await erroring.start();
    const result = await erroring.result();
    assert.equal(result.verdict, 'inconclusive');
    assert.equal(result.action, 'continue', 'inconclusive: pass lets it through');
    assert.match(result.warning ?? '', /inconclusive .*Prometheus rejected/);
    assert.ok(erroring.record().ticks.every((t) => t.verdict === 'inconclusive'));
  });
});
