// /metrics: what Prometheus scrapes from the daemon, checked by promtool and against the requests
// the test sent through the router, a switch and a rollback.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { LE_SECONDS, foldHistogram } from '../src/api/metrics.ts';
import { SlotMetrics } from '../src/router/metrics.ts';
import { ROOT, startDaemon, startUpstream, waitFor } from './helpers.ts';

/** `name{labels} value` lines of an exposition, keyed by name and sorted labels. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{.*\})? (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

test('the router histogram folds into cumulative le buckets that never count a request under a bound it may exceed', () => {
  const m = new SlotMetrics();
  for (const ms of [0.4, 3, 3, 20, 700, 90_000]) m.record(200, ms);
  const h = foldHistogram(m.snapshot().latency, m.snapshot().latencySum);
  const at = (le: number) => h.buckets[LE_SECONDS.indexOf(le)]!;
  assert.equal(h.count, 6);
  assert.equal(h.buckets.at(-1), 6, '+Inf holds every request');
  assert.equal(at(0.001), 1);
  assert.equal(at(0.005), 3);
  assert.equal(at(0.025), 4);
  assert.equal(at(1), 5);
  assert.equal(at(60), 5, '90 s is above the last bound');
  assert.ok(
    h.buckets.every((v, i) => i === 0 || v >= h.buckets[i - 1]!),
    'cumulative',
  );
  assert.ok(Math.abs(h.sum - 90_726.4 / 1000) < 1e-9);
});

test('/metrics counts requests by status class, latency, live slot, target health, generation, phase and rollbacks, and promtool accepts it', async () => {
  const blue = await startUpstream('blue', (req, res) => {
    if (req.url !== '/fail') return false;
    res.statusCode = 500;
    res.end('no');
  });
  const green = await startUpstream('green');
  const d = await startDaemon([blue.address], [green.address], {
    service: { standby: '10m', analysis: { interval: '200ms', window: '10m' } },
  });
  try {
    for (let i = 0; i < 10; i++) await (await fetch(`http://127.0.0.1:${d.port}/`)).text();
    for (let i = 0; i < 3; i++) await (await fetch(`http://127.0.0.1:${d.port}/fail`)).text();
    const res = await fetch(`http://127.0.0.1:${d.apiPort}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const s = samples(text);
    assert.equal(s.get('cutover_requests_total{service="web",slot="blue",class="2xx"}'), 10);
    assert.equal(s.get('cutover_requests_total{service="web",slot="blue",class="5xx"}'), 3);
    assert.equal(s.get('cutover_requests_total{service="web",slot="green",class="2xx"}'), 0);
    assert.equal(s.get('cutover_request_duration_seconds_count{service="web",slot="blue"}'), 13);
    assert.equal(s.get('cutover_request_duration_seconds_bucket{service="web",slot="blue",le="+Inf"}'), 13);
    assert.ok(
      s.get('cutover_request_duration_seconds_bucket{service="web",slot="blue",le="1"}')! >= 13 - 0,
      'local requests finish under a second',
    );
    assert.equal(s.get('cutover_live_slot{service="web",slot="blue"}'), 1);
    assert.equal(s.get('cutover_live_slot{service="web",slot="green"}'), 0);
    assert.equal(s.get(`cutover_target_healthy{service="web",slot="green",target="${green.address}"}`), 1);
    assert.equal(typeof s.get('cutover_upstream_errors_total{service="web",slot="blue"}'), 'number');
    assert.equal(s.get('cutover_upstream_errors_total{service="web",slot="green"}'), 0);
    const gen = s.get('cutover_route_generation{service="web"}')!;
    assert.ok(gen >= 1);
    assert.equal(s.get('cutover_rollbacks_total{service="web"}'), 0);

    // promtool reads it the way Prometheus will.
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(lint.status, 0, `promtool: ${lint.stdout}${lint.stderr}`);

    // A release to green, observed (a long window), then rolled back: the gauges and the counter follow.
    const r = await d.api('POST', '/api/v1/services/web/releases', { version: 'v2' });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    await waitFor(
      'observing',
      async () => (await d.api('GET', `/api/v1/services/web/releases/${r.json.id}`)).json.phase === 'observing',
      15_000,
    );
    let m = samples(await (await fetch(`http://127.0.0.1:${d.apiPort}/metrics`)).text());
    assert.equal(m.get('cutover_live_slot{service="web",slot="green"}'), 1);
    assert.equal(m.get('cutover_release_phase{service="web",phase="observing"}'), 1);
    assert.ok(m.get('cutover_route_generation{service="web"}')! > gen);
    assert.equal((await d.api('POST', '/api/v1/services/web/rollback', {})).status, 200);
    m = samples(await (await fetch(`http://127.0.0.1:${d.apiPort}/metrics`)).text());
    assert.equal(m.get('cutover_live_slot{service="web",slot="blue"}'), 1);
    assert.equal(m.get('cutover_release_phase{service="web",phase="rolled-back"}'), 1);
    assert.equal(m.get('cutover_release_phase{service="web",phase="observing"}'), 0);
    assert.equal(m.get('cutover_rollbacks_total{service="web"}'), 1);
    assert.equal(m.get('cutover_router_generation{service="web"}'), m.get('cutover_route_generation{service="web"}'));
  } finally {
    await d.stop();
    await blue.close();
    await green.close();
  }
});

test('the Grafana dashboard in examples/ is valid JSON and asks only for metrics /metrics has', () => {
  const dash = JSON.parse(readFileSync(`${ROOT}/examples/grafana-dashboard.json`, 'utf8'));
  const exprs: string[] = dash.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr as string));
  assert.ok(exprs.length >= 6);
  const known =
    /^cutover_(requests_total|request_duration_seconds_bucket|upstream_errors_total|target_healthy|live_slot|slot_weight_percent|route_generation|router_generation|release_phase|rollbacks_total|requests_in_flight)$/;
  for (const e of exprs) {
    for (const name of e.match(/cutover_[a-z_]+/g) ?? []) assert.match(name, known, `${name} in ${e}`);
  }
});
