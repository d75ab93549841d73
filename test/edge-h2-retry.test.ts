// Retry on standby for HTTP/2 streams, as for HTTP/1.1 requests (test/router-retry.test.ts): while a
// route table asks for it, an idempotent stream the new slot fails (a 5xx, no connection, a drill's
// injected 500) before anything of the answer went out is answered by the standby slot, still counted
// as the new slot's failure, within the retries-a-second budget. A body is sent twice only when it was
// read whole first (buffer.requests). Real TLS, real HTTP/2 sessions, real upstreams.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import type { RouteSpec } from '../src/router/table.ts';
import { h2Connect, h2Request, startEdge } from './edge-helpers.ts';
import { freePort, startUpstream, type Upstream } from './helpers.ts';
import { makeCa, makeCert, type TestCa, type TestCert } from './tls.ts';

describe('retry on standby over HTTP/2', () => {
  let ca: TestCa;
  let cert: TestCert;
  let blue: Upstream;
  let green: Upstream;
  const blueBodies: string[] = [];
  let generation = 1;

  before(async () => {
    ca = makeCa();
    cert = makeCert(ca, ['app.test'], 'app');
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
      req.resume();
      res.statusCode = 500;
      res.end('green is broken');
      return true;
    });
  });

  after(async () => {
    await blue.close();
    await green.close();
    rmSync(ca.dir, { recursive: true, force: true });
  });

  /** An edge whose table sends everything to green, the new slot, with `extra` (the retry rule, a drill). */
  async function edgeWith(extra: Partial<RouteSpec>, router: Record<string, unknown> = {}, greenTargets = [green.address]) {
    const e = await startEdge([
      {
        name: 'app',
        edge: { hosts: ['app.test'], stripPrefix: true, tls: { certificate: cert.cert, key: cert.key } },
        blue: [blue.address],
        green: greenTargets,
        router,
      },
    ]);
    const host = e.hosts.get('app')!;
    for (const t of greenTargets) host.setHealth(t, true);
    await host.apply({
      service: 'app',
      generation: ++generation,
      live: 'green',
      weights: { blue: 0, green: 100 },
      slots: { blue: { version: 'v1', targets: [blue.address] }, green: { version: 'v2', targets: greenTargets } },
      ...extra,
    });
    const session: http2.ClientHttp2Session = await h2Connect(e.port, 'app.test', ca.pem);
    return {
      host,
      session,
      close: async () => {
        session.close();
        await e.close();
      },
    };
  }

  it("a GET the new slot answers 500 gets the standby's answer, and the 500 still counts for the new slot", async () => {
    const e = await edgeWith({ retry: { from: 'green', to: 'blue', perSecond: 1000, header: null } });
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => h2Request(e.session, '/')));
      assert.deepEqual(new Set(answers.map((a) => `${a.status} ${a.headers['x-slot']}`)), new Set(['200 blue']));
      const m = await e.host.metrics();
      assert.equal(m.slots.green.status[5], 20, "every failure is the new slot's, for the analysis");
      assert.equal(m.slots.blue.status[2], 20);
      assert.equal(m.slots.green.inFlight + m.slots.blue.inFlight, 0, 'nothing left counted in flight');
    } finally {
      await e.close();
    }
  });

  it('a POST is retried only when the named header marks it and its body was read whole (buffer.requests)', async () => {
    const rule = { retry: { from: 'green' as const, to: 'blue' as const, perSecond: 1000, header: 'idempotency-key' } };
    const streaming = await edgeWith(rule);
    try {
      const plain = await h2Request(streaming.session, '/', { ':method': 'POST' }, 'order=1');
      assert.deepEqual([plain.status, plain.headers['x-slot']], [500, 'green']);
      // Marked, but its body went to the new slot as it came: it cannot be sent again.
      const marked = await h2Request(streaming.session, '/', { ':method': 'POST', 'idempotency-key': 'k1' }, 'order=2');
      assert.deepEqual([marked.status, marked.headers['x-slot']], [500, 'green']);
    } finally {
      await streaming.close();
    }
    const buffered = await edgeWith(rule, { bufferRequests: true, maxRequestBody: 1 << 20 });
    try {
      const marked = await h2Request(buffered.session, '/', { ':method': 'POST', 'idempotency-key': 'k2' }, 'order=3');
      assert.deepEqual([marked.status, marked.body], [200, 'blue:order=3']);
      assert.equal(blueBodies.at(-1), 'order=3', 'the whole body reached the standby');
      const plain = await h2Request(buffered.session, '/', { ':method': 'POST' }, 'order=4');
      assert.equal(plain.status, 500, 'an unmarked POST is never sent twice');
    } finally {
      await buffered.close();
    }
  });

  it("a GET the new slot cannot be connected for, or a drill's injected 500, is answered by the standby", async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const e = await edgeWith({ retry: { from: 'green', to: 'blue', perSecond: 1000, header: null } }, {}, [dead]);
    try {
      const a = await h2Request(e.session, '/');
      assert.deepEqual([a.status, a.headers['x-slot']], [200, 'blue']);
      assert.ok((await e.host.metrics()).slots.green.upstreamErrors > 0, "the refused connection is the new slot's upstream error");
    } finally {
      await e.close();
    }
    const drill = await edgeWith({
      retry: { from: 'green', to: 'blue', perSecond: 1000, header: null },
      faults: { slot: 'green', errors: 1, latency: 0 },
    });
    try {
      const a = await h2Request(drill.session, '/');
      assert.deepEqual([a.status, a.headers['x-slot']], [200, 'blue']);
      assert.equal((await drill.host.metrics()).slots.green.status[5], 1, 'the injected 500 counts for the drilled slot');
    } finally {
      await drill.close();
    }
  });

  it("without the rule, or past the budget, users get the new slot's failure", async () => {
    const none = await edgeWith({ retry: null });
    try {
      assert.equal((await h2Request(none.session, '/')).status, 500);
    } finally {
      await none.close();
    }
    const e = await edgeWith({ retry: { from: 'green', to: 'blue', perSecond: 5, header: null } });
    try {
      const start = performance.now();
      const answers = [];
      for (let i = 0; i < 30; i++) answers.push(await h2Request(e.session, '/'));
      const seconds = (performance.now() - start) / 1000;
      const rescued = answers.filter((a) => a.status === 200).length;
      // A bucket of 5 (one second's worth) that refills at 5 a second while the requests run.
      const most = 5 + Math.ceil(5 * seconds);
      assert.ok(rescued >= 5 && rescued <= most, `rescued ${rescued} of 30 in ${seconds.toFixed(2)} s with a budget of 5/s`);
      assert.equal(answers.filter((a) => a.status === 500 && a.headers['x-slot'] === 'green').length, 30 - rescued);
    } finally {
      await e.close();
    }
  });
});
