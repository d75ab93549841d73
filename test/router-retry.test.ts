// The router's shield and drills, with real sockets: while a route table asks for it, an idempotent
// request the new slot fails is answered by the standby slot (and still counted as the new slot's
// failure), within a budget of retries a second; a drill's faults make the new slot's answers fail or
// wait. The daemon's side (when the tables ask for it) is in test/release-retry.test.ts and
// test/release-drill.test.ts.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { Router } from '../src/router/router.ts';
import type { RouteSpec } from '../src/router/table.ts';
import { freePort, startUpstream, testRouterOptions, type Upstream } from './helpers.ts';

interface Answer {
  status: number;
  body: string;
  slot: string;
  injected: boolean;
  ms: number;
}

function send(port: number, method: string, headers: Record<string, string> = {}, body?: string, agent?: http.Agent): Promise<Answer> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: '/', headers, agent: agent ?? false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: text,
          slot: String(res.headers['x-slot'] ?? ''),
          injected: res.headers['x-cutover-error'] === '1',
          ms: performance.now() - start,
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('retry on standby and drill faults in the router', () => {
  let blue: Upstream;
  let green: Upstream;
  let router: Router;
  let port: number;
  let generation = 1;
  const blueBodies: string[] = [];
  let greenRequests = 0;

  const apply = (extra: Partial<RouteSpec>, greenTargets?: string[]): void => {
    router.apply({
      service: 'web',
      generation: ++generation,
      live: 'green',
      weights: { blue: 0, green: 100 },
      slots: { blue: { version: 'v1', targets: [blue.address] }, green: { version: 'v2', targets: greenTargets ?? [green.address] } },
      ...extra,
    });
  };
  const greenErrors = (): number => router.metrics().slots.green.status[5] ?? 0;

  before(async () => {
    blue = await startUpstream('blue', (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        blueBodies.push(body);
        res.end(`blue:${body}`);
      });
      return true;
    });
    green = await startUpstream('green', (req, res) => {
      greenRequests++;
      req.resume();
      res.statusCode = 500;
      res.end('green is broken');
      return true;
    });
    port = await freePort();
    router = new Router(testRouterOptions(port));
    await router.listen();
    router.setHealth(blue.address, true);
    router.setHealth(green.address, true);
  });
  after(async () => {
    await router.close();
    await blue.close();
    await green.close();
  });

  test('a GET the new slot answers 500 gets the standby answer, and the 500 still counts for the new slot', async () => {
    apply({ retry: { from: 'green', to: 'blue', perSecond: 1000, header: null } });
    const before = greenErrors();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const answers = await Promise.all(Array.from({ length: 40 }, () => send(port, 'GET', {}, undefined, agent)));
    agent.destroy();
    assert.deepEqual(new Set(answers.map((a) => `${a.status} ${a.slot}`)), new Set(['200 blue']));
    assert.equal(greenErrors() - before, 40, "every failure is the new slot's, for the analysis");
    assert.equal(router.metrics().slots.blue.status[2]! >= 40, true);
  });

  test('a POST is not retried, unless the header the operator named marks it; its whole body goes to the standby', async () => {
    apply({ retry: { from: 'green', to: 'blue', perSecond: 1000, header: 'idempotency-key' } });
    const plain = await send(port, 'POST', { 'content-type': 'text/plain' }, 'order=1');
    assert.equal(plain.status, 500);
    assert.equal(plain.slot, 'green');
    const marked = await send(port, 'POST', { 'Idempotency-Key': 'k1', 'content-type': 'text/plain' }, 'order=2');
    assert.equal(marked.status, 200);
    assert.equal(marked.body, 'blue:order=2');
    assert.equal(blueBodies.at(-1), 'order=2');
  });

  test('a GET the new slot cannot be connected to for is answered by the standby', async () => {
    const closed = await freePort();
    const dead = `127.0.0.1:${closed}`;
    router.setHealth(dead, true);
    apply({ retry: { from: 'green', to: 'blue', perSecond: 1000, header: null } }, [dead]);
    const a = await send(port, 'GET');
    assert.equal(a.status, 200);
    assert.equal(a.slot, 'blue');
    assert.equal(router.metrics().slots.green.upstreamErrors > 0, true);
  });

  test('without the rule, or past the budget, users get the new slot’s failure', async () => {
    apply({ retry: null });
    assert.equal((await send(port, 'GET')).status, 500);
    apply({ retry: { from: 'green', to: 'blue', perSecond: 5, header: null } });
    const answers: Answer[] = [];
    const start = performance.now();
    for (let i = 0; i < 30; i++) answers.push(await send(port, 'GET'));
    const seconds = (performance.now() - start) / 1000;
    const rescued = answers.filter((a) => a.status === 200).length;
    // A bucket of 5 (one second's worth) that refills at 5 a second while the requests run.
    const most = 5 + Math.ceil(5 * seconds);
    assert.ok(rescued >= 5 && rescued <= most, `rescued ${rescued} of 30 in ${seconds.toFixed(2)} s with a budget of 5/s`);
    assert.equal(answers.filter((a) => a.status === 500 && a.slot === 'green').length, 30 - rescued);
  });

  test('a drill answers a share of the new slot’s requests 500 itself, or holds them for the latency', async () => {
    // The new slot runs a healthy app here (the drill releases the version that is live).
    apply({ faults: { slot: 'green', errors: 1, latency: 0 } }, [blue.address]);
    const seenBefore = blueBodies.length;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const failed = await Promise.all(Array.from({ length: 5 }, () => send(port, 'GET', {}, undefined, agent)));
    agent.destroy();
    assert.deepEqual(
      failed.map((a) => [a.status, a.injected]),
      Array.from({ length: 5 }, () => [500, true]),
    );
    assert.equal(blueBodies.length, seenBefore, 'an injected error never reaches the app');
    apply({ faults: { slot: 'green', errors: 0, latency: 300 } }, [blue.address]);
    const slow = await send(port, 'GET');
    assert.equal(slow.status, 200);
    assert.ok(slow.ms >= 290, `answered after ${slow.ms.toFixed(0)} ms`);
  });

  test('with retry on, a drill’s injected errors on GETs are answered by the standby', async () => {
    const greenBefore = greenRequests;
    apply({ faults: { slot: 'green', errors: 1, latency: 0 }, retry: { from: 'green', to: 'blue', perSecond: 1000, header: null } }, [
      blue.address,
    ]);
    const before = greenErrors();
    const a = await send(port, 'GET');
    assert.equal(a.status, 200);
    assert.equal(greenErrors() - before, 1);
    assert.equal(greenRequests, greenBefore);
  });
});
