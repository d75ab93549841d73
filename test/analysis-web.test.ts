// Analysis from a web/JSON metric source (a Datadog- or New Relic-like HTTP API, here a small server
// in the test): the rule's URL is filled in with the service, slot, version and window, its API key
// comes from the daemon's environment and is never shown, a version the API reports failing is rolled
// back, and a failing dry-run rule is measured and shown but never acted on.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { cleanup, cli, deploy, startUp, waitPhase } from './lifecycle-helpers.ts';
import { release, releaseSetup, settled } from './release-helpers.ts';

test('a web rule rolls back a version its API reports failing, while a failing dry-run rule is shown and never acted on', async () => {
  const key = `web-key-${randomUUID()}`;
  const asked: { query: URLSearchParams; authorization: string | undefined }[] = [];
  const api = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    asked.push({ query: url.searchParams, authorization: req.headers.authorization });
    if (req.headers.authorization !== `Bearer ${key}`) return void res.writeHead(403).end('{"errors":["bad key"]}');
    // The API's view: the version `badweb` fails; everyone is slower than the dry-run rule wants.
    const errorRate = url.searchParams.get('version') === 'badweb' ? 0.5 : 0.001;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: [{ errorRate, p99: 900 }] }));
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  const url = `${base}/api/q?service={{service}}&slot={{slot}}&version={{version}}&window={{window}}`;
  const headers = { authorization: 'Bearer ${CUTOVER_TEST_WEB_KEY}' };
  process.env.CUTOVER_TEST_WEB_KEY = key; // the daemon inherits it
  const s = await releaseSetup({
    analysis: {
      interval: '250ms',
      window: '1500ms',
      failureLimit: 2,
      inconclusive: 'hold',
      watchStandby: false,
      rules: [
        { metric: 'web', url, headers, jsonPath: '$.data[0].errorRate', max: 0.01 },
        { metric: 'web', url, headers, jsonPath: '$.data[0].p99', max: 100, dryRun: true },
      ],
    },
  });
  const d = await startUp(s).finally(() => delete process.env.CUTOVER_TEST_WEB_KEY);
  try {
    const v1 = await deploy(d, 'v1');
    await waitPhase(d, v1.id, ['promoted', 'retired']);

    const v2 = await deploy(d, 'v2');
    const good = await settled(d, v2.id);
    assert.equal(good.phase, 'promoted', good.reason);
    const observing = good.analysis.find((a: any) => a.label === 'observing');
    assert.equal(observing.state, 'pass');
    const dry = observing.rules.find((r: any) => r.dryRun);
    assert.deepEqual([dry.verdict, dry.value, dry.threshold], ['fail', '900', '<= 100'], JSON.stringify(observing.rules));
    assert.match(dry.rule, /^web `127\.0\.0\.1:\d+\/api\/q \$\.data\[0\]\.p99` \(dry-run\)$/);
    assert.ok(
      good.events.some(
        (e: any) => e.type === 'analysis' && /not acted on: web .*\(dry-run\) 900 on green is above the max 100/.test(e.reason),
      ),
      'the events say what the dry-run rule measured',
    );
    const st = cli(s, ['status', 'web']);
    assert.match(st.stdout, /\(dry-run\) {2}900 {2}<= 100 {2}fail/);
    const mine = asked.find((a) => a.query.get('version') === 'v2' && a.authorization !== undefined);
    assert.ok(mine, 'the API was asked about v2 with the key');
    assert.equal(mine.query.get('service'), 'web');
    assert.equal(mine.query.get('slot'), 'green');
    assert.match(mine.query.get('window') ?? '', /^\d+s$/);

    const bad = await deploy(d, 'badweb');
    const end = await settled(d, bad.id);
    assert.equal(end.phase, 'rolled-back', end.reason);
    assert.match(end.reason, /web `127\.0\.0\.1:\d+\/api\/q \$\.data\[0\]\.errorRate` 0\.5 on blue is above the max 0\.01/);

    const all = JSON.stringify([good.events, (await release(d, bad.id)).events]);
    assert.ok(!all.includes(key) && !d.output().includes(key), 'the API key is in no event and no log line');
  } finally {
    await d.stop();
    cleanup(s);
    await new Promise<void>((r) => api.close(() => r()));
  }
});
