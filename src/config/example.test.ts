// DESIGN.md's cutover.yaml, kept verbatim in examples/, must validate and mean what it says.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from './load.ts';

const FILE = fileURLToPath(new URL('../../examples/design.cutover.yaml', import.meta.url));

test("the design's example validates and means what it says", async () => {
  const config = await loadConfig(FILE);
  const dir = path.dirname(FILE);
  assert.deepEqual(config.api, { listen: '127.0.0.1:9900', hosts: [], metricsToken: false });
  assert.equal(config.stateDir, path.join(dir, '.cutover'));
  assert.deepEqual(Object.keys(config.services), ['web']);
  const web = config.services.web;
  assert.ok(web);
  assert.equal(web.listen, '127.0.0.1:8080');
  assert.equal(web.drain, 30_000);
  assert.deepEqual(web.provider, { kind: 'process', command: ['node', 'app.js'], replicas: 2, cwd: dir, env: {}, stopGrace: 10_000 });
  assert.equal(web.health.path, '/healthz');
  assert.equal(web.health.interval, 1000);
  assert.deepEqual(web.gates, [
    { http: { requests: [{ method: 'GET', path: '/', headers: {}, expect: { status: 200 } }], timeout: 60_000 } },
    { command: { run: 'npm run e2e', timeout: 300_000 } },
    { load: { rate: 200, duration: 10_000, connections: 10, maxErrorRate: 0.01, maxP99: 250 } },
  ]);
  assert.equal(web.approval, 'auto');
  assert.equal(web.shift, 'instant');
  assert.equal(web.analysis.interval, 1000);
  assert.equal(web.analysis.window, 300_000);
  assert.deepEqual(web.analysis.rules, [
    { metric: 'error_rate', max: 0.01 },
    { metric: 'p99', max: 500, baseline: 1.5 },
  ]);
  assert.equal(web.standby, 30 * 60_000);
  assert.deepEqual(web.preview, { header: 'x-cutover-preview' });
  assert.deepEqual(web.migrations, {
    expand: 'npm run db:expand',
    contract: 'npm run db:contract',
    lint: path.join(dir, 'db/expand/*.sql'),
  });
});
