import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { AnalysisRule } from '../config/types.ts';
import { WebSource, expandHeaders, fillTemplate, pick } from './web-source.ts';

/** A small metrics API: answers what `reply` says and remembers each request. */
let server: http.Server;
let base = '';
const seen: { url: string; method: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
let reply: (url: URL) => { status: number; body: string } = () => ({ status: 200, body: '{}' });
before(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', method: req.method ?? '', headers: req.headers, body });
      const r = reply(new URL(req.url ?? '/', 'http://x'));
      res.writeHead(r.status, { 'content-type': 'application/json' }).end(r.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

const W = { slot: 'green' as const, version: 'v 2&x', sinceMs: 1_700_000_000_000 };
const now = () => W.sinceMs + 30_000;

test('placeholders are filled in, URL-encoded in the URL and JSON-escaped in a body', () => {
  const v = { service: 'web', slot: 'green', version: 'v"2 &', startMs: W.sinceMs, endMs: W.sinceMs + 30_000 };
  assert.equal(
    fillTemplate('/q?s={{service}}&v={{ version }}&w={{window}}&n={{windowSeconds}}&from={{start}}&to={{end}}', v, encodeURIComponent),
    '/q?s=web&v=v%222%20%26&w=30s&n=30&from=1700000000&to=1700000030',
  );
  assert.equal(
    fillTemplate('{"q":"version:{{version}}"}', v, (s) => JSON.stringify(s).slice(1, -1)),
    '{"q":"version:v\\"2 &"}',
  );
});

test('header values take ${NAME} from the environment, and a missing one is named', () => {
  assert.deepEqual(expandHeaders({ 'DD-API-KEY': '${K}', x: 'a ${K} b' }, { K: 's3' }), {
    headers: { 'DD-API-KEY': 's3', x: 'a s3 b' },
    secrets: ['s3', 's3'],
  });
  assert.deepEqual(expandHeaders({ 'DD-API-KEY': '${NOPE}' }, {}), { missing: 'NOPE', header: 'DD-API-KEY' });
});

test('a JSONPath picks one number: numbers and numeric strings count, none is no data, several or a non-number say why', () => {
  const doc = {
    series: [
      {
        pointlist: [
          [1, 0.5],
          [2, '0.25'],
        ],
      },
    ],
    many: [1, 2],
    s: 'abc',
  };
  assert.deepEqual(pick(doc, '$.series[0].pointlist[-1][1]'), { value: 0.25, samples: 1 });
  assert.deepEqual(pick(doc, '$.series[0].pointlist[0][1]'), { value: 0.5, samples: 1 });
  assert.deepEqual(pick(doc, '$.nothing'), { value: null, samples: 0 });
  assert.match(pick(doc, '$.many[*]').error ?? '', /picked 2 values; make it pick one/);
  assert.match(pick(doc, '$.s').error ?? '', /picked "abc", not a number/);
});

test('the web source asks the API with the filled-in URL and the secret header, and reads the number', async () => {
  reply = () => ({ status: 200, body: JSON.stringify({ data: { result: [{ value: 0.02 }] } }) });
  const rule: AnalysisRule = {
    metric: 'web',
    url: `${base}/api/query?q=errors{service:{{service}},slot:{{slot}},version:{{version}}}&window={{window}}`,
    headers: { 'DD-API-KEY': '${TEST_KEY}' },
    jsonPath: '$.data.result[0].value',
    max: 0.05,
  };
  const src = new WebSource({ service: 'web', env: { TEST_KEY: 'k-123' }, now });
  const m = await src.measure(rule, W);
  assert.deepEqual([m.value, m.samples, m.error], [0.02, 1, undefined]);
  const req = seen.at(-1)!;
  assert.equal(req.headers['dd-api-key'], 'k-123');
  const q = new URL(req.url, base).searchParams;
  assert.equal(q.get('q'), 'errors{service:web,slot:green,version:v 2&x}');
  assert.equal(q.get('window'), '30s');
});

test('a POST sends the filled-in body as JSON', async () => {
  reply = () => ({ status: 200, body: '{"data":{"actor":{"nrql":{"results":[{"rate":1.5}]}}}}' });
  const src = new WebSource({ service: 'web', env: {}, now });
  const m = await src.measure(
    {
      metric: 'web',
      url: `${base}/graphql`,
      method: 'POST',
      body: '{"query":"{{slot}} since {{windowSeconds}} seconds"}',
      jsonPath: '$.data.actor.nrql.results[0].rate',
      max: 2,
    },
    W,
  );
  assert.equal(m.value, 1.5);
  assert.equal(seen.at(-1)!.method, 'POST');
  assert.deepEqual(JSON.parse(seen.at(-1)!.body), { query: 'green since 30 seconds' });
});

test("an API error is a measurement error with the status, the secret cut out and the URL's query left out", async () => {
  reply = () => ({ status: 403, body: '{"errors":["bad key k-secret-9"]}' });
  const src = new WebSource({ service: 'web', env: { TEST_KEY: 'k-secret-9' }, now });
  const m = await src.measure(
    {
      metric: 'web',
      url: `${base}/api/query?api_key=inline-key`,
      headers: { authorization: 'Bearer ${TEST_KEY}' },
      jsonPath: '$.v',
      max: 1,
    },
    W,
  );
  assert.equal(m.value, null);
  assert.match(m.error ?? '', /^127\.0\.0\.1:\d+\/api\/query answered 403: .*bad key \*\*\*/);
  assert.doesNotMatch(m.error ?? '', /k-secret-9|inline-key/);
});

test('a header naming an unset variable measures nothing and says which', async () => {
  const before = seen.length;
  const src = new WebSource({ service: 'web', env: {}, now });
  const m = await src.measure({ metric: 'web', url: `${base}/q`, headers: { 'DD-API-KEY': '${DD_API_KEY}' }, jsonPath: '$.v', max: 1 }, W);
  assert.match(m.error ?? '', /header DD-API-KEY names \$\{DD_API_KEY\}, which is not set/);
  assert.equal(seen.length, before, 'nothing was sent without the key');
});
