// A drill's faults reach HTTP/2 streams as they reach HTTP/1.1 requests: the new slot's answers fail
// (a share answered 500 by the router, counted as the slot's own answers, so analysis sees them) or
// wait before they go on. Without this, a drill on a service whose users speak HTTP/2 proved nothing.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { h2Connect, h2Request, liveSpec, startEdge } from './edge-helpers.ts';
import { startUpstream, type Upstream } from './helpers.ts';
import { makeCa, makeCert, type TestCa, type TestCert } from './tls.ts';

describe("a drill's faults on HTTP/2 streams", () => {
  let ca: TestCa;
  let cert: TestCert;
  let blue: Upstream;
  let green: Upstream;

  before(async () => {
    ca = makeCa();
    cert = makeCert(ca, ['app.test'], 'app');
    blue = await startUpstream('blue');
    green = await startUpstream('green');
  });

  after(async () => {
    await blue.close();
    await green.close();
    rmSync(ca.dir, { recursive: true, force: true });
  });

  const edge = () =>
    startEdge([
      {
        name: 'app',
        edge: { hosts: ['app.test'], stripPrefix: true, tls: { certificate: cert.cert, key: cert.key } },
        blue: [blue.address],
        green: [green.address],
      },
    ]);

  it("errors: every stream to the drilled slot gets the router's 500 (HEAD its head alone), counted as that slot's answers", async () => {
    const e = await edge();
    const host = e.hosts.get('app')!;
    try {
      await host.apply({
        ...liveSpec('app', [blue.address], [green.address], 'green', 2),
        faults: { slot: 'green', errors: 1, latency: 0 },
      });
      const s = await h2Connect(e.port, 'app.test', ca.pem);
      try {
        const seenBefore = green.userConnections;
        for (let i = 0; i < 5; i++) {
          const r = await h2Request(s, '/');
          assert.equal(r.status, 500);
          assert.match(r.body, /injected by a cutover drill/);
        }
        const head = await h2Request(s, '/', { ':method': 'HEAD' });
        assert.equal(head.status, 500);
        assert.equal(head.body, '');
        assert.equal(green.userConnections, seenBefore, 'no request reached the drilled slot');
        const m = await host.metrics();
        assert.equal(m.slots.green.status[5], 6, JSON.stringify(m.slots.green));
        // The drill ends: the same session is answered by the slot again.
        await host.apply(liveSpec('app', [blue.address], [green.address], 'green', 3));
        const r = await h2Request(s, '/');
        assert.deepEqual([r.status, r.body], [200, 'green']);
      } finally {
        s.close();
      }
    } finally {
      await e.close();
    }
  });

  it("latency: a stream to the drilled slot waits that long, then gets the slot's own answer; the session's other streams go on meanwhile", async () => {
    const e = await edge();
    const host = e.hosts.get('app')!;
    try {
      await host.apply({
        ...liveSpec('app', [blue.address], [green.address], 'green', 2),
        faults: { slot: 'green', errors: 0, latency: 3000 },
      });
      const s = await h2Connect(e.port, 'app.test', ca.pem);
      try {
        const t = Date.now();
        const order: string[] = [];
        const drilled = h2Request(s, '/').then((r) => {
          order.push('drilled');
          return r;
        });
        // The drill ends while the first stream waits: the next stream is not held, the waiting one still is.
        await new Promise((r) => setTimeout(r, 100));
        await host.apply(liveSpec('app', [blue.address], [green.address], 'green', 3));
        const next = await h2Request(s, '/');
        order.push('next');
        assert.deepEqual([next.status, next.body], [200, 'green']);
        const r = await drilled;
        const waited = Date.now() - t;
        assert.deepEqual([r.status, r.body], [200, 'green']);
        assert.ok(waited >= 2950, `the drilled stream was answered after ${waited} ms, not after the drill's 3000`);
        assert.deepEqual(order, ['next', 'drilled'], 'a waiting stream holds up no other stream of its session');
      } finally {
        s.close();
      }
    } finally {
      await e.close();
    }
  });
});
