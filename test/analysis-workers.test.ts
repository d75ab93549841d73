// Analysis over a router that runs as worker processes (`workers: 2`): the source reads the host's
// summed metrics over IPC, exactly as the controller will (`() => host.metrics()`).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { RouterSource } from '../src/analysis/router-source.ts';
import { AnalysisRunner } from '../src/analysis/run.ts';
import { createLogger } from '../src/log.ts';
import { WorkerRouterHost } from '../src/router/host.ts';
import { freePort, startUpstream, testRouterOptions, type Upstream } from './helpers.ts';

const INTERVAL = 100;

let host: WorkerRouterHost;
let blue: Upstream;
let green: Upstream;
let port: number;
let greenStatus = 200;

before(async () => {
  blue = await startUpstream('blue');
  green = await startUpstream('green', (req, res) => {
    req.resume();
    res.statusCode = greenStatus;
    res.end('green');
  });
  port = await freePort();
  const opts = testRouterOptions(port, { reusePort: true });
  host = new WorkerRouterHost(opts, 2, createLogger({ level: 'error' }));
  await host.listen();
  host.setHealth(blue.address, true);
  host.setHealth(green.address, true);
  await host.apply({
    service: 'web',
    generation: 2,
    live: 'green',
    weights: { blue: 0, green: 100 },
    slots: { blue: { version: 'v1', targets: [blue.address] }, green: { version: 'v2', targets: [green.address] } },
  });
});

after(async () => {
  await host.close();
  await blue.close();
  await green.close();
});

/** Requests on fresh connections, so both workers take a share of them. */
async function burst(n: number): Promise<number> {
  let errors = 0;
  for (let i = 0; i < n; i++) {
    const status = await new Promise<number>((resolve) => {
      http
        .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        })
        .on('error', () => resolve(-1));
    });
    if (status === -1 || status >= 500) errors++;
  }
  return errors;
}

test("the error rate of a slot served by two worker processes counts every worker's requests once", async () => {
  const source = new RouterSource(() => host.metrics(), { interval: INTERVAL });
  await source.checkpoint();
  const since = Date.now();
  greenStatus = 200;
  await burst(60);
  greenStatus = 503;
  const errors = await burst(40);
  greenStatus = 200;
  const m = await source.measure({ metric: 'error_rate', max: 0.01 }, { slot: 'green', version: 'v2', sinceMs: since });
  assert.equal(errors, 40);
  assert.equal(m.samples, 100);
  assert.equal(m.value, 0.4);
});

test('green answering 500 behind two workers fails the run', async () => {
  const source = new RouterSource(() => host.metrics(), { interval: INTERVAL });
  await source.start();
  const r = new AnalysisRunner({
    service: 'web',
    label: 'observing',
    slot: 'green',
    version: 'v2',
    settings: { interval: INTERVAL, rules: [{ metric: 'error_rate', max: 0.01 }], minSamples: 20, failureLimit: 2, inconclusive: 'hold' },
    window: 20_000,
    sources: { router: source },
  });
  greenStatus = 500;
  try {
    await r.start();
    let stop = false;
    const traffic = (async () => {
      const deadline = Date.now() + 15_000;
      while (!stop && Date.now() < deadline) await burst(5);
    })();
    const out = await r.result();
    stop = true;
    await traffic;
    assert.equal(out.verdict, 'fail');
    assert.match(out.reason, /error_rate 100% on green is above the max 1%/);
  } finally {
    greenStatus = 200;
    source.close();
    r.stop();
  }
});
