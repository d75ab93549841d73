// The real daemon with two services on one TLS listener: switching one of them under HTTP/1.1
// keep-alive and HTTP/2 load fails no request, streams in flight finish on their slot, and the other
// service on the same listener is untouched.
import assert from 'node:assert/strict';
import https from 'node:https';
import type http2 from 'node:http2';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { h2Connect, h2Request } from './edge-helpers.ts';
import { freePort, startDaemon, startUpstream, type Daemon, type Upstream, waitFor } from './helpers.ts';
import { makeCa, makeCert, type TestCa } from './tls.ts';

interface Tally {
  ok: Record<string, number>;
  failed: string[];
}

function h1Get(agent: https.Agent, port: number, host: string, ca: string, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, servername: host, headers: { host }, ca, agent }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Clients that keep sending until `stop()`; every answer is tallied by body (the slot's name). */
function load(run: () => Promise<{ status: number; body: string }>, clients: number): { stop(): Promise<Tally> } {
  const tally: Tally = { ok: {}, failed: [] };
  let going = true;
  const loops = Array.from({ length: clients }, async () => {
    for (let i = 0; going && i < 100_000; i++) {
      try {
        const r = await run();
        if (r.status === 200) tally.ok[r.body] = (tally.ok[r.body] ?? 0) + 1;
        else tally.failed.push(`${r.status} ${r.body}`);
      } catch (err) {
        tally.failed.push(String(err));
      }
    }
  });
  return {
    stop: async () => {
      going = false;
      await Promise.all(loops);
      return tally;
    },
  };
}

describe('a switch on a shared TLS listener', () => {
  let ca: TestCa;
  let blue: Upstream;
  let green: Upstream;
  let other: Upstream;
  let d: Daemon;
  let port: number;
  let slowSeen = 0;

  before(async () => {
    ca = makeCa();
    const app = makeCert(ca, ['app.test'], 'app');
    const api = makeCert(ca, ['api.test'], 'api');
    // The slow path holds a response open across a switch: it must finish on the slot it started on.
    const slow = (req: { url?: string }, res: { end(s: string): void }, slot: string): boolean => {
      if (req.url !== '/slow') return false;
      slowSeen++;
      setTimeout(() => res.end(slot), 600);
      return true;
    };
    blue = await startUpstream('blue', (req, res) => slow(req, res, 'blue'));
    green = await startUpstream('green', (req, res) => slow(req, res, 'green'));
    other = await startUpstream('other');
    port = await freePort();
    const common = { listen: `127.0.0.1:${port}`, drain: '5s', health: { path: '/healthz', interval: '100ms' } };
    d = await startDaemon([], [], {
      services: {
        app: {
          ...common,
          hosts: ['app.test'],
          tls: { certificate: app.cert, key: app.key },
          provider: { kind: 'static', blue: [blue.address], green: [green.address] },
        },
        api: {
          ...common,
          hosts: ['api.test'],
          tls: { certificate: api.cert, key: api.key },
          provider: { kind: 'static', blue: [other.address] },
        },
      },
    });
    await waitFor('healthy targets', async () => {
      const r = await d.api('GET', '/api/v1/services/app');
      return [...r.json.slots.blue.targets, ...r.json.slots.green.targets].every((t: { healthy: boolean }) => t.healthy);
    });
  });

  after(async () => {
    await d?.stop();
    await Promise.all([blue?.close(), green?.close(), other?.close()]);
    rmSync(ca.dir, { recursive: true, force: true });
  });

  it('status shows what each service claims on the listener and the certificate it serves', async () => {
    const r = await d.api('GET', '/api/v1/services/api');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.edge.hosts, ['api.test']);
    assert.equal(r.json.edge.tls, true);
    assert.equal(r.json.edge.certificates.length, 1);
    assert.match(r.json.edge.certificates[0].subject, /CN=api\.test/);
    assert.equal(r.json.edge.certificates[0].error, null);
  });

  it('loses nothing over HTTP/1.1 and HTTP/2 while the other service keeps its own slot', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 8 });
    const sessions: http2.ClientHttp2Session[] = await Promise.all([1, 2, 3].map(() => h2Connect(port, 'app.test', ca.pem)));
    const apiAgent = new https.Agent({ keepAlive: true, maxSockets: 2 });
    const h1 = load(() => h1Get(agent, port, 'app.test', ca.pem), 8);
    const h2 = load(() => h2Request(sessions[Math.floor(Math.random() * sessions.length)] as http2.ClientHttp2Session, '/'), 12);
    const untouched = load(() => h1Get(apiAgent, port, 'api.test', ca.pem), 2);
    // One slow stream on each protocol, started on blue before the switch.
    const slowH2 = h2Request(sessions[0] as http2.ClientHttp2Session, '/slow');
    const slowH1 = h1Get(new https.Agent({ keepAlive: false }), port, 'app.test', ca.pem, '/slow');
    await waitFor('both slow requests on blue', () => slowSeen === 2);
    for (const slot of ['green', 'blue', 'green'] as const) {
      const r = await d.switchTo(slot, 'app');
      assert.equal(r.status, 200, JSON.stringify(r.json));
      await new Promise((r) => setTimeout(r, 400));
    }
    const [a, b, c] = await Promise.all([h1.stop(), h2.stop(), untouched.stop()]);
    assert.deepEqual(a.failed, [], 'HTTP/1.1 failures');
    assert.deepEqual(b.failed, [], 'HTTP/2 failures');
    assert.deepEqual(c.failed, [], 'other service failures');
    for (const t of [a, b]) {
      assert.ok((t.ok.blue ?? 0) > 0 && (t.ok.green ?? 0) > 0, `both slots served: ${JSON.stringify(t.ok)}`);
      assert.deepEqual(Object.keys(t.ok).sort(), ['blue', 'green']);
    }
    assert.deepEqual(Object.keys(c.ok), ['other']);
    assert.equal((await slowH2).body, 'blue', 'the HTTP/2 stream in flight finished on its slot');
    assert.equal((await slowH1).body, 'blue', 'the HTTP/1.1 request in flight finished on its slot');
    // After the last switch the next stream on an old session goes to the new slot.
    assert.equal((await h2Request(sessions[0] as http2.ClientHttp2Session, '/')).body, 'green');
    for (const s of sessions) s.close();
    agent.destroy();
    apiAgent.destroy();
  });
});
