// `workers: 2` on a TLS listener, through the real daemon: both worker processes hold users' TLS
// connections (ss shows their pids), every handshake gets the same certificate, a switch under
// HTTP/1.1 keep-alive and HTTP/2 load fails no request, and a worker that dies is replaced while the
// other one serves.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import type http2 from 'node:http2';
import https from 'node:https';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { h2Connect, h2Request } from './edge-helpers.ts';
import { freePort, startDaemon, startUpstream, type Daemon, type Upstream, waitFor } from './helpers.ts';
import { connectionPids } from './supervisor-helpers.ts';
import { makeCa, makeCert, type TestCa } from './tls.ts';

/** The supervisor's edge worker processes (its children running edge/worker.ts): they outlive the controller. */
async function workerPids(d: Daemon): Promise<number[]> {
  const supervisor = (await d.api('GET', '/api/v1/services/app')).json.supervisor.pid as number;
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(supervisor)], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.includes('edge/worker.ts'))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

/** Pids holding established connections on the listener's port. */
function holders(port: number): Set<number> {
  return new Set(connectionPids(port).values());
}

function get(agent: https.Agent, port: number, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path: '/', servername: 'app.test', headers: { host: 'app.test' }, ca, agent },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

type LoadResult = { ok: Record<string, number>; failed: string[] };

/** Clients looping on `run` until stopped (and at most 100,000 requests or 120 s each, should a test forget to stop them). */
function load(run: () => Promise<{ status: number; body: string }>, clients: number): { stop(): Promise<LoadResult> } {
  const ok: Record<string, number> = {};
  const failed: string[] = [];
  let going = true;
  const deadline = Date.now() + 120_000;
  const loops = Array.from({ length: clients }, async () => {
    for (let i = 0; going && i < 100_000 && Date.now() < deadline; i++) {
      try {
        const r = await run();
        if (r.status === 200) ok[r.body] = (ok[r.body] ?? 0) + 1;
        else failed.push(`${r.status} ${r.body}`);
      } catch (err) {
        failed.push(String(err));
      }
    }
  });
  return {
    stop: async () => {
      going = false;
      await Promise.all(loops);
      return { ok, failed };
    },
  };
}

describe('workers: 2 on a TLS listener', () => {
  let ca: TestCa;
  let serial: string;
  let blue: Upstream;
  let green: Upstream;
  let d: Daemon;
  let port: number;

  before(async () => {
    ca = makeCa();
    const cert = makeCert(ca, ['app.test'], 'app');
    serial = new X509Certificate(readFileSync(cert.cert)).serialNumber;
    blue = await startUpstream('blue');
    green = await startUpstream('green');
    port = await freePort();
    d = await startDaemon([], [], {
      services: {
        app: {
          listen: `127.0.0.1:${port}`,
          hosts: ['app.test'],
          tls: { certificate: cert.cert, key: cert.key },
          workers: 2,
          drain: '2s',
          provider: { kind: 'static', blue: [blue.address], green: [green.address] },
          // A probe that times out on a loaded machine would refuse a switch (CUTOVER_E_SLOT_UNHEALTHY);
          // this test is about the switch, so the probe gets a timeout no loaded machine reaches.
          health: { path: '/healthz', interval: '100ms', timeout: '10s' },
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
    await Promise.all([blue?.close(), green?.close()]);
    if (ca) rmSync(ca.dir, { recursive: true, force: true });
  });

  it('both workers serve TLS connections, each handshake with the certificate on disk, which status shows', async () => {
    const st = (await d.api('GET', '/api/v1/services/app')).json;
    assert.deepEqual(st.edge.hosts, ['app.test']);
    assert.equal(st.edge.tls, true);
    assert.match(st.edge.certificates[0]?.subject ?? '', /CN=app\.test/);
    assert.equal(st.edge.certificates[0]?.error, null);
    const pids = await workerPids(d);
    assert.equal(pids.length, 2, `two edge workers: ${pids.join(', ')}`);
    const sockets: tls.TLSSocket[] = [];
    try {
      for (let i = 0; i < 40; i++) {
        const s = tls.connect({ host: '127.0.0.1', port, servername: 'app.test', ca: ca.pem, ALPNProtocols: ['http/1.1'] });
        await new Promise((r, j) => s.once('secureConnect', r).once('error', j));
        assert.equal(s.authorized, true);
        assert.equal(s.getPeerCertificate().serialNumber, serial);
        sockets.push(s);
      }
      // 40 connections spread by the kernel: both workers hold some (all on one: 2 x 0.5^40).
      const held = holders(port);
      assert.deepEqual(pids.filter((p) => held.has(p)).sort(), [...pids].sort(), `connections held by ${[...held].join(', ')}`);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });

  it('a switch under HTTP/1.1 keep-alive and HTTP/2 load loses nothing, on every worker', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 8 });
    const sessions: http2.ClientHttp2Session[] = await Promise.all([1, 2, 3, 4].map(() => h2Connect(port, 'app.test', ca.pem)));
    try {
      const h1 = load(() => get(agent, port, ca.pem), 8);
      const h2 = load(() => h2Request(sessions[Math.floor(Math.random() * sessions.length)] as http2.ClientHttp2Session, '/'), 8);
      let stopped: [LoadResult, LoadResult];
      try {
        for (const slot of ['green', 'blue', 'green'] as const) {
          await new Promise((r) => setTimeout(r, 300));
          const r = await d.switchTo(slot, 'app');
          assert.equal(r.status, 200, JSON.stringify(r.json));
        }
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        // A failed switch must end the load too, or its loops would run on until the runner's limit.
        stopped = await Promise.all([h1.stop(), h2.stop()]);
      }
      const [a, b] = stopped;
      assert.deepEqual(a.failed, [], 'HTTP/1.1 failures');
      assert.deepEqual(b.failed, [], 'HTTP/2 failures');
      for (const t of [a, b]) assert.ok((t.ok.blue ?? 0) > 0 && (t.ok.green ?? 0) > 0, `both slots served: ${JSON.stringify(t.ok)}`);
      // After the switch every worker serves green: fresh connections land on both.
      for (let i = 0; i < 10; i++) assert.equal((await get(new https.Agent({ keepAlive: false }), port, ca.pem)).body, 'green');
    } finally {
      for (const s of sessions) s.close();
      agent.destroy();
    }
  });

  it('a worker that dies is started again while the other keeps serving', async () => {
    const [victim, other] = await workerPids(d);
    assert.ok(victim !== undefined && other !== undefined);
    process.kill(victim, 'SIGKILL');
    // Connections in its accept queue die with it, as with any SO_REUSEPORT server: ask once it is
    // reaped (its listening socket closed), not merely dying (ps stops naming it before that).
    await waitFor('the killed worker reaped', () => {
      try {
        process.kill(victim, 0);
        return false;
      } catch {
        return true;
      }
    });
    const agent = new https.Agent({ keepAlive: false });
    for (let i = 0; i < 10; i++) assert.equal((await get(agent, port, ca.pem)).status, 200);
    const now = await waitFor('a new worker', async () => {
      const pids = await workerPids(d);
      return pids.length === 2 && !pids.includes(victim) ? pids : undefined;
    });
    assert.ok(now.includes(other));
    // The new worker serves the generation that is live (green after the switches above).
    for (let i = 0; i < 10; i++) assert.equal((await get(agent, port, ca.pem)).body, 'green');
  });
});
