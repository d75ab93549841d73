// `workers: 2` on a TLS listener two services share, through the real daemon: both router
// processes serve both hosts (each with its certificate and upstream), a switch of one service under
// HTTP/1.1 and HTTP/2 keep-alive load fails nothing while the other is untouched, and a process
// SIGKILLed is started again serving both services with their live slots and target health.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type http2 from 'node:http2';
import { test } from 'node:test';
import { h2Connect, h2Request } from './edge-helpers.ts';
import { freePort, startUpstream, waitFor } from './helpers.ts';
import { cleanup, startUp } from './lifecycle-helpers.ts';
import { alive, connectionPids, processes, writeStaticServices } from './supervisor-helpers.ts';
import { servedFingerprint, tlsLoadHosts } from './tls-load.ts';
import { makeCa, makeCert } from './tls.ts';

const HOSTS = ['app.test', 'api.test'] as const;
const SESSIONS = 16;

/** HTTP/2 sessions per host, kept open; ss tells which process holds each. */
async function openSessions(port: number, ca: string): Promise<{ host: string; session: http2.ClientHttp2Session }[]> {
  const out: { host: string; session: http2.ClientHttp2Session }[] = [];
  for (const host of HOSTS)
    for (let i = 0; i < SESSIONS; i++) {
      const session = await h2Connect(port, host, ca);
      session.on('error', () => {});
      out.push({ host, session });
    }
  return out;
}

/** What each session's host answers, 4 requests each, grouped by the pid that holds the session. */
async function answersByPid(
  port: number,
  sessions: { host: string; session: http2.ClientHttp2Session }[],
): Promise<Map<number, Map<string, Set<string>>>> {
  const owner = connectionPids(port);
  const out = new Map<number, Map<string, Set<string>>>();
  for (const { host, session } of sessions) {
    const pid = owner.get(session.socket.localPort ?? 0) ?? 0;
    const seen = out.get(pid) ?? new Map<string, Set<string>>();
    out.set(pid, seen);
    for (let i = 0; i < 4; i++) {
      const a = await h2Request(session, '/');
      const answers = seen.get(host) ?? new Set<string>();
      answers.add(a.status === 200 ? a.body : `status ${a.status}`);
      seen.set(host, answers);
    }
  }
  return out;
}

test('workers: 2 on a shared TLS listener: both processes serve both hosts, a switch of one under load fails nothing, a process SIGKILLed comes back serving both with their live slots and target health', async () => {
  const ups = await Promise.all(['app-blue', 'app-green', 'api-blue', 'api-green'].map((n) => startUpstream(n)));
  const [appBlue, appGreen, apiBlue, apiGreen] = ups as [(typeof ups)[0], (typeof ups)[0], (typeof ups)[0], (typeof ups)[0]];
  // Nothing listens there: health marks it down, and a process that forgot that would answer 502.
  const dead = `127.0.0.1:${await freePort()}`;
  const ca = makeCa();
  const certs = Object.fromEntries(HOSTS.map((h) => [h, makeCert(ca, [h], h.split('.')[0]!)]));
  const tls = (h: string) => ({ certificate: certs[h]!.cert, key: certs[h]!.key });
  const s = await writeStaticServices({
    app: { blue: appBlue.address, green: appGreen.address, hosts: ['app.test'], tls: tls('app.test'), workers: 2 },
    api: { blue: [apiBlue.address, dead], green: apiGreen.address, hosts: ['api.test'], tls: tls('api.test'), workers: 2 },
  });
  const d = await startUp(s);
  let sessions: { host: string; session: http2.ClientHttp2Session }[] = [];
  try {
    for (const host of HOSTS) {
      const want = new X509Certificate(readFileSync(certs[host]!.cert)).fingerprint256;
      await waitFor(`${host} over TLS`, async () => (await servedFingerprint(s.port, ca.pem, host)) === want || undefined);
    }
    await waitFor('the dead target of api marked down', async () => {
      const st = (await d.api('GET', '/api/v1/services/api')).json;
      return st.slots.blue.targets.some((t: { address: string; healthy: boolean }) => t.address === dead && !t.healthy) || undefined;
    });
    const pids = (await processes(d, 'app')).routers;
    assert.equal(pids.length, 2, `two router processes: ${pids.join(', ')}`);
    assert.deepEqual((await processes(d, 'api')).routers, pids, 'the same two processes serve api');

    sessions = await openSessions(s.port, ca.pem);
    const before = await answersByPid(s.port, sessions);
    for (const pid of pids) {
      assert.deepEqual(
        HOSTS.map((h) => [...(before.get(pid)?.get(h) ?? [])]),
        [['app-blue'], ['api-blue']],
        `process ${pid} serves both hosts, each from its own upstream (sessions held: ${[...before.keys()].join(', ')})`,
      );
    }

    const load = tlsLoadHosts(s.port, ca.pem, [...HOSTS]);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const apiGeneration = (await processes(d, 'api')).generation;
      const sw = await d.api('POST', '/api/v1/services/app/switch', { slot: 'green' });
      assert.equal(sw.status, 200, JSON.stringify(sw.json));
      await new Promise((r) => setTimeout(r, 500));
      const r = await load.stop();
      assert.deepEqual(r.failures, [], `failed requests across the switch (${r.ok} ok)`);
      assert.deepEqual([...(r.bodies.get('app.test') ?? [])].sort(), ['app-blue', 'app-green']);
      assert.deepEqual([...(r.bodies.get('api.test') ?? [])], ['api-blue'], 'api untouched by the switch of app');
      assert.equal((await processes(d, 'api')).generation, apiGeneration);

      const [victim, other] = pids as [number, number];
      for (const x of sessions) x.session.destroy();
      process.kill(victim, 'SIGKILL');
      await waitFor('the killed process reaped', () => !alive(victim) || undefined);
      // Serving once it has both services at their live generations. A process takes 1-4 s to load
      // its modules on this 2-core machine at load 8, more under heavier load: 15 s was too tight.
      const now = await waitFor(
        'a new router process serving both services',
        async () => {
          const all = await Promise.all(['app', 'api'].map(async (n) => (await d.api('GET', `/api/v1/services/${n}`)).json));
          const procs = all.map((st) => st.supervisor.routers.processes as { pid: number | null; generation: number }[]);
          const ready = procs.every(
            (ps, i) => ps.length === 2 && ps.every((p) => p.pid !== null && p.pid !== victim && p.generation === all[i].generation),
          );
          return ready ? procs[0]!.map((p) => p.pid as number) : undefined;
        },
        60_000,
      );
      assert.ok(now.includes(other), 'the other process served on');
      const fresh = now.find((p) => p !== other)!;
      sessions = await openSessions(s.port, ca.pem);
      const after = await answersByPid(s.port, sessions);
      assert.deepEqual(
        HOSTS.map((h) => [...(after.get(fresh)?.get(h) ?? [])]),
        [['app-green'], ['api-blue']],
        `the new process ${fresh} serves app from green (its live slot) and api from blue, never the target marked down`,
      );
      assert.deepEqual(
        HOSTS.map((h) => [...(after.get(other)?.get(h) ?? [])]),
        [['app-green'], ['api-blue']],
      );
      // /metrics shows every process of the listener under each service, the restarted one counted.
      const metrics = await (await fetch(`http://127.0.0.1:${s.apiPort}/metrics`)).text();
      const restarted = pids.indexOf(victim);
      for (const service of ['app', 'api'])
        for (const worker of [0, 1]) {
          const labels = `{service="${service}",worker="${worker}"}`;
          assert.ok(metrics.includes(`cutover_router_process_up${labels} 1`), `${service} worker ${worker} up in /metrics`);
          assert.ok(metrics.includes(`cutover_router_process_restarts_total${labels} ${worker === restarted ? 1 : 0}`), metrics);
        }
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  } finally {
    for (const x of sessions) x.session.destroy();
    await d.stop();
    cleanup(s);
    await Promise.all(ups.map((u) => u.close()));
  }
});
