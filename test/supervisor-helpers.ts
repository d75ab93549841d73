// Pieces the restart tests share: a static service behind the supervisor's routers, keep-alive load
// that records every failure and the longest gap between answers, and a look at which processes live
// (the supervisor's tree, the demo app's replicas that answer).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, waitFor } from './helpers.ts';
import type { Running, Setup } from './lifecycle-helpers.ts';

/** A config with one static service `web` (blue and green given) and a short supervisor grace. */
export async function writeStatic(blue: string, green: string, service: Record<string, unknown> = {}, grace = '60s'): Promise<Setup> {
  return writeStaticServices({ web: { blue, green, ...service } }, {}, grace);
}

/**
 * A config with static services (blue and green given), all on one listen address unless one
 * names its own (`port` in the setup); `top`: more top-level keys (`httpRedirect`, say).
 */
export async function writeStaticServices(
  services: Record<string, { blue: string | string[]; green: string | string[] } & Record<string, unknown>>,
  top: Record<string, unknown> = {},
  grace = '60s',
): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-restart-'));
  const port = await freePort();
  const apiPort = await freePort();
  const token = `test-token-${Math.random().toString(36).slice(2)}`;
  const config = {
    api: { listen: `127.0.0.1:${apiPort}` },
    stateDir: join(dir, 'state'),
    supervisor: { grace },
    ...top,
    services: Object.fromEntries(
      Object.entries(services).map(([name, { blue, green, ...service }]) => [
        name,
        {
          listen: `127.0.0.1:${port}`,
          drain: '2s',
          provider: { kind: 'static', blue: [blue].flat(), green: [green].flat() },
          health: { path: '/healthz', interval: '100ms' },
          ...service,
        },
      ]),
    ),
  };
  const file = join(dir, 'cutover.yaml');
  writeFileSync(file, stringify(config));
  return { dir, file, port, apiPort, token };
}

export interface LoadResult {
  ok: number;
  failures: string[];
  /** How many clients saw at least one failure. */
  clientsFailed: number;
  /** The longest time any client waited between two answers. */
  maxGapMs: number;
}

/**
 * `clients` keep-alive clients, one connection each, asking `path` until stopped, or for `maxMs` at
 * most: a test that fails before it stops the load still ends.
 */
export function keepAliveLoad(port: number, clients = 10, path = '/', maxMs = 240_000): { stop(): Promise<LoadResult> } {
  let stopping = false;
  const deadline = Date.now() + maxMs;
  let ok = 0;
  let maxGapMs = 0;
  const failures: string[] = [];
  const failedClients = new Set<number>();
  const loops = Array.from({ length: clients }, async (_, i) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let last = Date.now();
    while (!stopping && Date.now() < deadline) {
      const err = await new Promise<string | null>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode === 200 ? null : `status ${res.statusCode}`));
          res.on('error', (e) => resolve(e.message));
        });
        req.on('error', (e) => resolve(e.message));
      });
      const now = Date.now();
      if (err === null) {
        ok++;
        maxGapMs = Math.max(maxGapMs, now - last);
        last = now;
      } else {
        failures.push(`client ${i}: ${err}`);
        failedClients.add(i);
      }
    }
    agent.destroy();
  });
  return {
    stop: async () => {
      stopping = true;
      await Promise.all(loops);
      return { ok, failures, clientsFailed: failedClients.size, maxGapMs };
    },
  };
}

/** The supervisor and router pids a controller reports for a service. */
export async function processes(
  d: Running,
  service = 'web',
): Promise<{ supervisor: number; routers: number[]; controllers: number; generation: number }> {
  const st = (await d.api('GET', `/api/v1/services/${service}`)).json;
  return {
    supervisor: st.supervisor.pid,
    routers: st.supervisor.routers.processes.map((p: { pid: number }) => p.pid),
    controllers: st.supervisor.controllers,
    generation: st.generation,
  };
}

/** Whether `pid` runs: a zombie (dead, not yet reaped by its parent) runs nothing and holds no port. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat[stat.lastIndexOf(')') + 2];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Waits until none of `pids` runs any more. */
export async function gone(pids: number[], timeoutMs = 15_000): Promise<true> {
  return waitFor(`pids ${pids.join(', ')} to exit`, () => pids.every((p) => !alive(p)) || undefined, timeoutMs).catch((err) => {
    throw new Error(`${(err as Error).message}; still running: ${pids.filter(alive).join(', ')}`);
  });
}

/** Waits until the service answers 200 from the routers. */
export function serving(port: number): Promise<true> {
  return waitFor('the routers to answer', async () => (await fetch(`http://127.0.0.1:${port}/`)).status === 200 || undefined);
}

/** The pids of the replicas that answer on the listener (the demo app's page names its pid). */
export async function answeringPids(port: number, samples = 30): Promise<number[]> {
  const pids = new Set<number>();
  for (let i = 0; i < samples; i++) {
    const page = await (await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } })).text();
    const m = /\(pid (\d+)\)/.exec(page);
    if (m) pids.add(Number(m[1]));
  }
  return [...pids].sort((a, b) => a - b);
}

/** Every live (not zombie) descendant of `root`, read from /proc. */
export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      parent.set(Number(entry), Number(fields[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number): void => {
    for (const [child, ppid] of parent) {
      if (ppid !== pid) continue;
      out.push(child);
      walk(child);
    }
  };
  walk(root);
  return out;
}

/** Which process holds each established connection on the listener's `port`, by the client's port (ss -tnp). */
export function connectionPids(port: number): Map<number, number> {
  const out = execFileSync('ss', ['-Htnp', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  const pids = new Map<number, number>();
  for (const line of out.split('\n')) {
    const peer = /\S+:(\d+)\s+\S+:(\d+)\s+users:/.exec(line);
    const pid = /pid=(\d+)/.exec(line);
    if (peer && pid) pids.set(Number(peer[2]), Number(pid[1]));
  }
  return pids;
}

/** One plain-HTTP GET to the redirect listener for `host`: its status and Location. */
export function redirectOnce(agent: http.Agent, port: number, host: string, path: string): Promise<{ status: number; location: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host }, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: String(res.headers.location) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** A keep-alive client asking the redirect listener until stopped; every answer that is not the 301 kept. */
export function redirectLoad(port: number, host: string, httpsPort: number): { stop(): Promise<{ ok: number; failures: string[] }> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const want = `https://${host}:${httpsPort}/x?y=1`;
  let stopping = false;
  let ok = 0;
  const failures: string[] = [];
  const deadline = Date.now() + 240_000;
  const loop = (async () => {
    while (!stopping && Date.now() < deadline) {
      const r = await redirectOnce(agent, port, host, '/x?y=1').catch((e: Error) => ({ status: 0, location: e.message }));
      if (r.status === 301 && r.location === want) ok++;
      else failures.push(`${r.status} ${r.location}`);
      await new Promise((w) => setTimeout(w, 20));
    }
    agent.destroy();
  })();
  return {
    stop: async () => {
      stopping = true;
      await loop;
      return { ok, failures };
    },
  };
}
