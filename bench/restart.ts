// `npm run bench:restart`: what users lose while the proxy itself restarts. Under the steady rounds'
// load (wrk, keep-alive, -c50 by default) plus a gap probe (a few keep-alive clients timing every
// answer), each run does one thing in the middle and counts failed requests and the longest wait for
// an answer:
//   cutover SIGHUP            the controller restarts in place (routers and replicas are the supervisor's)
//   cutover SIGKILL + up      the controller is killed and `cutover up` started again (it attaches and adopts)
//   nginx -s reload           a new configuration, new workers, the old ones finish their requests
//   haproxy reload            master-worker mode (-W), SIGUSR2 to the master; listeners handed over (expose-fd)
//   cutover router SIGKILL    one router process of the service (workers: 1, then 2) killed; the
//                             supervisor starts it again (restart-router.ts tells whose connections failed)
// cutover runs a static service on the upstream nginx (as in the steady rounds) and, for the kill, also
// a process-provider service of two replicas (bench/apps/mttr-app.js), whose replicas must be adopted.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from './cutover.ts';
import { machineInfo } from './machine.ts';
import { haproxyConfig } from './haproxy.ts';
import { startNginxProxy, startUpstream } from './nginx.ts';
import { type Child, freePorts, sleep, startProcess, stopAll, tail, waitForPort } from './proc.ts';
import { type FailureSplit, killRouter, type RouterProcess, splitFailures } from './restart-router.ts';
import type { Upstream } from './target.ts';
import { runWrk } from './wrk.ts';

const log = (line: string) => process.stderr.write(`bench restart: ${line}\n`);
const READY_MS = 60_000;
/** Probe clients: few, so they cost the proxy little; each answer's wait is timed. */
const PROBES = 4;
/** The router-kill rounds: enough connections that, with two routers, several are on the one not killed. */
const ROUTER_KILL_PROBES = 8;
const PROBE_TIMEOUT_MS = 2000;

interface Probe {
  ok: number;
  failed: number;
  maxGapMs: number;
  /** The client port of the connection each failed request went on (0: it had none). */
  failedPorts: number[];
}

/** Keep-alive clients asking one after another until stopped; the longest time between two answers. */
function probe(url: string, clients: number): { stop(): Promise<Probe> } {
  let stopping = false;
  const r: Probe = { ok: 0, failed: 0, maxGapMs: 0, failedPorts: [] };
  const loops = Array.from({ length: clients }, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let last = performance.now();
    while (!stopping) {
      let port = 0;
      const ok = await new Promise<boolean>((resolve) => {
        const req = http.get(url, { agent, timeout: PROBE_TIMEOUT_MS }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode === 200));
          res.on('error', () => resolve(false));
        });
        req.on('socket', (sock) => {
          port = sock.localPort ?? 0;
          if (port === 0) sock.once('connect', () => (port = sock.localPort ?? 0));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', () => resolve(false));
      });
      const now = performance.now();
      if (ok) {
        r.ok++;
        r.maxGapMs = Math.max(r.maxGapMs, now - last);
        last = now;
      } else {
        r.failed++;
        r.failedPorts.push(port);
        await sleep(10);
      }
    }
    agent.destroy();
  });
  return {
    async stop() {
      stopping = true;
      await Promise.all(loops);
      return { ...r, maxGapMs: Math.round(r.maxGapMs) };
    },
  };
}

interface Subject {
  name: string;
  url: string;
  /** Probe clients (default PROBES). */
  probes?: number;
  /**
   * The restart; resolves once it is done (the new process answers). A router kill gives what splits
   * the probe's failures by the connection they were on.
   */
  event(): Promise<((failedPorts: number[]) => FailureSplit) | undefined>;
  close(): Promise<void>;
}

interface Result {
  name: string;
  runs: { requests: number; failed: number; probeFailed: number; maxGapMs: number; eventMs: number; split?: FailureSplit }[];
}

async function measure(s: Subject, seconds: number, connections: number): Promise<Result['runs'][number]> {
  const p = probe(s.url, s.probes ?? PROBES);
  const load = runWrk({ url: s.url, seconds, connections, threads: 1 });
  await sleep((seconds * 1000) / 3);
  const t0 = performance.now();
  const split = await s.event();
  const eventMs = Math.round(performance.now() - t0);
  const wrk = await load;
  const pr = await p.stop();
  return {
    requests: wrk.requests,
    failed: wrk.failed,
    probeFailed: pr.failed,
    maxGapMs: pr.maxGapMs,
    eventMs,
    ...(split ? { split: split(pr.failedPorts) } : {}),
  };
}

// ---- cutover ------------------------------------------------------------------------------------

function cutoverConfig(dir: string, port: number, apiPort: number, service: string, workers: number): string {
  return `api: { listen: 127.0.0.1:${apiPort} }
stateDir: ${path.join(dir, 'state')}
services:
  bench:
    listen: 127.0.0.1:${port}
    workers: ${workers}
${service}    health: { path: /healthz, interval: 1s }
`;
}

async function cutoverReady(child: Child, apiPort: number, token: string, port: number): Promise<void> {
  const deadline = Date.now() + READY_MS;
  while (Date.now() < deadline && child.isRunning()) {
    try {
      const res = await fetch(`http://127.0.0.1:${apiPort}/api/v1/services/bench`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await res.json()) as { live?: string | null; supervisor?: { controllers?: number } };
      const user = await fetch(`http://127.0.0.1:${port}/`);
      await user.body?.cancel();
      if (res.status === 200 && body.live && body.supervisor?.controllers === 1 && user.status === 200) return;
    } catch {
      // not yet
    }
    await sleep(50);
  }
  throw new Error(`cutover not ready within ${READY_MS} ms; its log:\n${tail(child.logFile)}`);
}

type CutoverEvent = 'sighup' | 'kill' | 'router-kill';

const EVENT_NAMES: Record<CutoverEvent, string> = { sighup: 'SIGHUP', kill: 'SIGKILL + up', 'router-kill': 'router SIGKILL' };

async function startCutoverSubject(
  dir: string,
  kind: 'static' | 'process',
  how: CutoverEvent,
  upstream: Upstream,
  workers = 1,
): Promise<Subject> {
  mkdirSync(dir, { recursive: true });
  const [port, apiPort] = (await freePorts(2)) as [number, number];
  const service =
    kind === 'static'
      ? `    provider: { kind: static, blue: [127.0.0.1:${upstream.blue}], green: [127.0.0.1:${upstream.green}] }\n`
      : `    provider: { kind: process, command: [${process.execPath}, ${path.join(repoRoot, 'bench/apps/mttr-app.js')}, '{version}'], replicas: 2 }\n`;
  const file = path.join(dir, 'cutover.yaml');
  writeFileSync(file, cutoverConfig(dir, port, apiPort, service, workers));
  const token = randomBytes(24).toString('hex');
  const up = (): Child =>
    startProcess(`cutover-${kind}`, process.execPath, [path.join(repoRoot, 'src/cli/main.ts'), 'up', '-c', file], {
      cwd: repoRoot,
      env: { ...process.env, CUTOVER_TOKEN: token },
      logFile: path.join(dir, 'cutover.log'),
    });
  let child = up();
  if (kind === 'process') {
    // The first release provisions blue: nothing is live before it.
    const deadline = Date.now() + READY_MS;
    while (
      !(await fetch(`http://127.0.0.1:${apiPort}/healthz`).then(
        (r) => r.ok,
        () => false,
      ))
    ) {
      if (Date.now() > deadline || !child.isRunning()) throw new Error(`cutover did not start; its log:\n${tail(child.logFile)}`);
      await sleep(100);
    }
    const res = await fetch(`http://127.0.0.1:${apiPort}/api/v1/services/bench/releases`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ version: 'v1' }),
    });
    if (res.status !== 202) throw new Error(`deploy v1: ${res.status} ${await res.text()}`);
  }
  await cutoverReady(child, apiPort, token, port);
  const routers = async (): Promise<RouterProcess[]> => {
    const res = await fetch(`http://127.0.0.1:${apiPort}/api/v1/services/bench`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { supervisor?: { routers?: { processes?: RouterProcess[] } | null } };
    return body.supervisor?.routers?.processes ?? [];
  };
  return {
    name: `cutover ${EVENT_NAMES[how]}${kind === 'process' ? ' (process, 2 replicas)' : ''}${how === 'router-kill' ? ` (workers: ${workers})` : ''}`,
    url: `http://127.0.0.1:${port}/`,
    ...(how === 'router-kill' ? { probes: ROUTER_KILL_PROBES } : {}),
    async event() {
      if (how === 'router-kill') {
        // The controller stays; the supervisor sees its router die and starts it again at once.
        const { killed, owners } = await killRouter(port, routers, READY_MS);
        return (failedPorts: number[]) => splitFailures(failedPorts, owners, killed);
      }
      if (how === 'sighup') {
        process.kill(child.pid, 'SIGHUP');
        // The old controller closes its API as it hands over; ready once the new one answers.
        const until = Date.now() + 15_000;
        while (
          Date.now() < until &&
          (await fetch(`http://127.0.0.1:${apiPort}/healthz`).then(
            () => true,
            () => false,
          ))
        )
          await sleep(20);
      } else {
        await child.stop('SIGKILL');
        child = up();
      }
      await cutoverReady(child, apiPort, token, port);
    },
    async close() {
      await child.stop('SIGTERM', 20_000);
    },
  };
}

// ---- nginx and HAProxy --------------------------------------------------------------------------

async function startNginxSubject(dir: string, upstream: Upstream): Promise<Subject> {
  const [port] = (await freePorts(1)) as [number];
  const t = await startNginxProxy(dir, 1, port, upstream);
  let slot: 'blue' | 'green' = 'blue';
  return {
    name: 'nginx -s reload',
    url: t.url,
    async event() {
      // A real reload: the configuration changes (the upstream's port), as a switch does.
      slot = slot === 'blue' ? 'green' : 'blue';
      await t.switchTo!(slot);
    },
    close: () => t.close(),
  };
}

async function startHaproxySubject(dir: string, upstream: Upstream): Promise<Subject> {
  mkdirSync(dir, { recursive: true });
  const [port] = (await freePorts(1)) as [number];
  const file = path.join(dir, 'haproxy.cfg');
  writeFileSync(file, haproxyConfig(dir, 1, port, upstream, true));
  const child = startProcess('haproxy -W', 'haproxy', ['-W', '-db', '-f', file], { logFile: path.join(dir, 'stdout.log') });
  await waitForPort(child, port);
  return {
    name: 'haproxy reload (-W, SIGUSR2)',
    url: `http://127.0.0.1:${port}/`,
    async event() {
      process.kill(child.pid, 'SIGUSR2');
      await sleep(500);
    },
    close: () => child.stop(),
  };
}

// ---- main ---------------------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '9' },
      runs: { type: 'string', default: '3' },
      connections: { type: 'string', default: '50' },
      only: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: npm run bench:restart -- [--duration S (9)] [--runs N (3)] [--connections N (50)] [--only KEY,KEY] [--keep]\n' +
        'failed requests and the longest gap in answers across a restart of cutover (SIGHUP; SIGKILL + up; one router process\n' +
        'SIGKILLed), nginx (-s reload) and HAProxy (reload). KEYs: cutover-hup, cutover-kill, cutover-kill-process,\n' +
        'cutover-router-kill-1, cutover-router-kill-2, nginx, haproxy (default: all)\n',
    );
    return 0;
  }
  const seconds = Number(values.duration);
  const runs = Number(values.runs);
  const connections = Number(values.connections);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cutover-bench-restart-'));
  const results: Result[] = [];
  try {
    const [blue, green] = (await freePorts(2)) as [number, number];
    const upstream = await startUpstream(path.join(tmp, 'upstream'), blue, green);
    const makers: [string, () => Promise<Subject>][] = [
      ['cutover-hup', () => startCutoverSubject(path.join(tmp, 'cutover-hup'), 'static', 'sighup', upstream)],
      ['cutover-kill', () => startCutoverSubject(path.join(tmp, 'cutover-kill'), 'static', 'kill', upstream)],
      ['cutover-kill-process', () => startCutoverSubject(path.join(tmp, 'cutover-kill-process'), 'process', 'kill', upstream)],
      ['cutover-router-kill-1', () => startCutoverSubject(path.join(tmp, 'cutover-router-kill-1'), 'static', 'router-kill', upstream, 1)],
      ['cutover-router-kill-2', () => startCutoverSubject(path.join(tmp, 'cutover-router-kill-2'), 'static', 'router-kill', upstream, 2)],
      ['nginx', () => startNginxSubject(path.join(tmp, 'nginx'), upstream)],
      ['haproxy', () => startHaproxySubject(path.join(tmp, 'haproxy'), upstream)],
    ];
    const only = values.only?.split(',').map((k) => k.trim());
    const unknown = only?.filter((k) => !makers.some(([key]) => key === k)) ?? [];
    if (unknown.length > 0) throw new Error(`--only: no round ${unknown.join(', ')}; see --help`);
    for (const [key, make] of makers.filter(([k]) => only === undefined || only.includes(k))) {
      let s: Subject;
      try {
        s = await make();
      } catch (err) {
        log(`${key} did not start: ${(err as Error).message}`);
        continue;
      }
      const r: Result = { name: s.name, runs: [] };
      try {
        for (let i = 0; i < runs; i++) {
          r.runs.push(await measure(s, seconds, connections));
          log(`${s.name}: run ${i + 1}: ${JSON.stringify(r.runs.at(-1))}`);
        }
      } finally {
        await s.close();
      }
      results.push(r);
    }
  } finally {
    await stopAll();
    if (values.keep) log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
  const head = [
    'restart',
    'requests',
    'failed (wrk)',
    'failed (probe)',
    "probe failed on: killed router's conns/other conns/new conns",
    'conns on the killed router (of all)',
    'longest gap ms (median, max)',
    'restart took ms',
  ];
  const rows = results.map((r) => [
    r.name,
    String(median(r.runs.map((x) => x.requests))),
    r.runs.map((x) => x.failed).join('/'),
    r.runs.map((x) => x.probeFailed).join('/'),
    r.runs.map((x) => (x.split ? `${x.split.killed}/${x.split.other}/${x.split.fresh}` : '-')).join(', '),
    r.runs.map((x) => (x.split ? `${x.split.connsOnKilled} (${x.split.conns})` : '-')).join(', '),
    `${median(r.runs.map((x) => x.maxGapMs))}, ${Math.max(...r.runs.map((x) => x.maxGapMs))}`,
    String(median(r.runs.map((x) => x.eventMs))),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  process.stdout.write(`${[line(head), ...rows.map(line)].join('\n')}\n`);
  process.stdout.write(
    `${runs} run(s) of ${seconds} s each, wrk -t1 -c${connections} plus ${PROBES} probe clients (${ROUTER_KILL_PROBES} for a router kill); ` +
      'failed per run; the restart happens a third of the way in\n',
  );
  const resultsDir = path.join(repoRoot, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const out = path.join(
    resultsDir,
    `restart-${new Date()
      .toISOString()
      .replace(/:/g, '-')
      .replace(/\.\d+Z$/, 'Z')}.json`,
  );
  writeFileSync(out, `${JSON.stringify({ machine: machineInfo(), seconds, runs, connections, results }, null, 2)}\n`);
  process.stdout.write(`results: ${path.relative(process.cwd(), out)}\n`);
  // A killed router loses the requests on its own connections (a single one: on all of them); nothing else may fail.
  const lost = (x: Result['runs'][number]): boolean => (x.split ? x.split.other > 0 : x.failed + x.probeFailed > 0);
  return results.some((r) => r.name.startsWith('cutover') && r.runs.some(lost)) ? 1 : 0;
}

process.exitCode = await main();
