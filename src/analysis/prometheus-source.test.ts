import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { test } from 'node:test';
import type { AnalysisRule } from '../config/types.ts';
import { PrometheusSource, fillQuery, valueOfResult } from './prometheus-source.ts';

const W = { slot: 'green' as const, version: 'v2', sinceMs: Date.now() - 30_000 };

test('a query gets service, slot, version and window filled in, with quotes escaped', () => {
  const q = fillQuery('sum(rate(x{service="{{service}}",slot="{{ slot }}",version="{{version}}"}[{{window}}]))', {
    service: 'web',
    slot: 'green',
    version: 'v"2\\',
    windowMs: 29_600,
  });
  assert.equal(q, 'sum(rate(x{service="web",slot="green",version="v\\"2\\\\"}[30s]))');
  assert.equal(fillQuery('up[{{window}}]', { service: 's', slot: 'blue', version: 'v', windowMs: 10 }), 'up[1s]', 'never a zero range');
  assert.equal(fillQuery('{{other}}', { service: 's', slot: 'blue', version: 'v', windowMs: 0 }), '{{other}}');
});

test('a scalar or one series is a value; no series is nothing to judge; several series or NaN are errors', () => {
  assert.deepEqual(valueOfResult({ resultType: 'scalar', result: [1, '0.5'] }), { value: 0.5, samples: 1 });
  assert.deepEqual(valueOfResult({ resultType: 'vector', result: [{ metric: {}, value: [1, '42'] }] }), { value: 42, samples: 1 });
  assert.deepEqual(valueOfResult({ resultType: 'vector', result: [] }), { value: null, samples: 0 });
  assert.match(
    valueOfResult({ resultType: 'vector', result: [{ value: [1, '1'] }, { value: [1, '2'] }] }).error ?? '',
    /returned 2 series; aggregate it/,
  );
  assert.match(valueOfResult({ resultType: 'vector', result: [{ value: [1, 'NaN'] }] }).error ?? '', /returned NaN, not a finite number/);
  assert.match(valueOfResult({ resultType: 'matrix', result: [] }).error ?? '', /a matrix result; write an instant query/);
});

/** A server that is not a good Prometheus: it answers as `handler` says. */
async function fake(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const s = http.createServer(handler);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(s.address() as net.AddressInfo).port}`;
  return {
    url,
    close: () =>
      new Promise((r) => {
        s.closeAllConnections();
        s.close(() => r());
      }),
  };
}

const RULE: AnalysisRule = { metric: 'prometheus', query: 'up', max: 1 };

test('a Prometheus that does not answer in time gives an error within the timeout', async () => {
  const srv = await fake(() => {});
  try {
    const t0 = Date.now();
    const m = await new PrometheusSource({ url: srv.url, service: 'web', timeout: 200 }).measure(RULE, W);
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(m.value, null);
    assert.match(m.error ?? '', /no answer within 200ms/);
  } finally {
    await srv.close();
  }
});

test('an answer that is not the Prometheus API gives an error that names the status', async () => {
  const srv = await fake((_, res) => {
    res.statusCode = 404;
    res.end('404 page not found');
  });
  try {
    const m = await new PrometheusSource({ url: `${srv.url}/`, service: 'web' }).measure(RULE, W);
    assert.match(m.error ?? '', /answered 404: 404 page not found; check analysis.prometheus.url/);
  } finally {
    await srv.close();
  }
});

test('nothing listening gives an error, not an exception', async () => {
  const srv = await fake(() => {});
  const url = srv.url;
  await srv.close();
  const m = await new PrometheusSource({ url, service: 'web', timeout: 1000 }).measure(RULE, W);
  assert.match(m.error ?? '', /ECONNREFUSED/);
});
