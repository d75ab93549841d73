// Pieces the release lifecycle tests share: a process-provider service running the demo app, a
// daemon that can be SIGKILLed and started again on the same state, and a steady load.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI, DAEMON_START_MS, ROOT, freePort, GiveUp, waitFor } from './helpers.ts';
import { splitHostPort } from '../src/net/address.ts';

export const DEMO_APP = join(ROOT, 'examples/demo/app.js');

export interface Setup {
  dir: string;
  file: string;
  port: number;
  apiPort: number;
  token: string;
}

/**
 * A config with one process service `web` running the demo app (`broken` exits, `v3` is never
 * healthy); `top`: more top-level keys (`supervisor`, say).
 */
export async function writeSetup(service: Record<string, unknown> = {}, top: Record<string, unknown> = {}): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-lifecycle-'));
  const port = await freePort();
  const apiPort = await freePort();
  const token = `test-token-${Math.random().toString(36).slice(2)}`;
  const config = {
    api: { listen: `127.0.0.1:${apiPort}` },
    stateDir: join(dir, 'state'),
    services: {
      web: {
        listen: `127.0.0.1:${port}`,
        drain: '2s',
        provider: { kind: 'process', command: [process.execPath, DEMO_APP, '{version}'], replicas: 2, stopGrace: '2s' },
        health: { path: '/healthz', interval: '100ms' },
        // Most of these tests send no traffic: analysis with nothing to judge lets the release go on.
        analysis: { interval: '500ms', window: '1s', inconclusive: 'pass' },
        standby: '10m',
        ...service,
      },
    },
    ...top,
  };
  const file = join(dir, 'cutover.yaml');
  writeFileSync(file, stringify(config));
  return { dir, file, port, apiPort, token };
}

export interface Running {
  child: ChildProcess;
  output: () => string;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  /** SIGTERM (SIGKILL after 10 s), or SIGKILL at once. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Resolves with the signal that ended the daemon (by itself, e.g. at a test kill point), within `ms`. */
  exited(ms: number): Promise<string | null>;
}

/** Starts `cutover up` (with `env` added); resolves once its API answers (within `timeoutMs`). */
export async function startUp(s: Setup, timeoutMs = DAEMON_START_MS, env: Record<string, string> = {}): Promise<Running> {
  let out = '';
  const child = spawn(process.execPath, [CLI, 'up', '-c', s.file], {
    env: { ...process.env, CUTOVER_TOKEN: s.token, CUTOVER_LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${s.apiPort}${path}`, {
      method,
      // No keep-alive: cli() blocks this event loop in spawnSync, so a socket the API closed as idle
      // meanwhile would be reused and fail with "other side closed".
      headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json', connection: 'close' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: res.status, json: (await res.json()) as any };
  };
  const r: Running = {
    child,
    output: () => out,
    api,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
    exited: (ms) =>
      waitFor(
        'the daemon to exit',
        () => (child.exitCode !== null || child.signalCode !== null ? { s: child.signalCode } : undefined),
        ms,
      ).then((x) => x.s),
  };
  try {
    await waitFor(
      'the daemon API',
      async () => {
        if (child.exitCode !== null) throw new GiveUp(`daemon exited ${child.exitCode}: ${out}`);
        // Bounded: whatever holds the port may take the connection and never answer.
        return (await fetch(`http://127.0.0.1:${s.apiPort}/healthz`, { signal: AbortSignal.timeout(5000) })).ok;
      },
      timeoutMs,
    );
  } catch (err) {
    await r.stop('SIGKILL');
    // What the daemon and its supervisor said is the only clue to a start that never answered.
    const said = err instanceof GiveUp ? '' : `\n--- cutover up said:\n${out.slice(-4000)}`;
    throw new Error(`${(err as Error).message}${said}\n--- supervisor.log:\n${supervisorLog(s)}`);
  }
  return r;
}

/** The end of the stateDir's supervisor.log, or why there is none. */
function supervisorLog(s: Setup): string {
  try {
    return readFileSync(join(s.dir, 'state', 'supervisor.log'), 'utf8').slice(-4000);
  } catch (err) {
    return `(none: ${(err as Error).message})`;
  }
}

export function cleanup(s: Setup): void {
  rmSync(s.dir, { recursive: true, force: true });
}

/** Follows a release until it reaches one of `phases`; fails on any other end. */
export async function waitPhase(d: Running, id: string, phases: string[], timeoutMs = 30_000): Promise<any> {
  return waitFor(
    `release ${id} to be ${phases.join(' or ')}`,
    async () => {
      const r = await d.api('GET', `/api/v1/services/web/releases/${id}`);
      if (phases.includes(r.json.phase)) return r.json;
      if (['failed', 'aborted', 'rolled-back', 'retired'].includes(r.json.phase)) {
        throw new Error(`release ended ${r.json.phase}: ${r.json.reason}`);
      }
      return undefined;
    },
    timeoutMs,
  );
}

export async function deploy(d: Running, version: string): Promise<any> {
  const r = await d.api('POST', '/api/v1/services/web/releases', { version });
  if (r.status !== 202) throw new Error(`deploy ${version}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

/** What the demo app behind the listener says: its version and slot. */
export async function served(port: number): Promise<{ status: number; version?: string; slot?: string; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/version`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  if (res.status !== 200) return { status: res.status, text };
  const j = JSON.parse(text) as { version: string; slot: string };
  return { status: 200, version: j.version, slot: j.slot, text };
}

/** `cutover <args>` against the daemon; returns its exit code and output. */
export function cli(s: Setup, args: string[], timeoutMs = 60_000): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, CUTOVER_API: `http://127.0.0.1:${s.apiPort}`, CUTOVER_TOKEN: s.token },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Keep-alive clients asking for /version until stopped (4 minutes at most, so a test that fails
 * before it stops them still ends); every answer other than 200 is a failure.
 */
export function steadyLoad(
  port: number,
  clients = 10,
  maxMs = 240_000,
): { stop(): Promise<{ ok: number; versions: Map<string, number>; failures: string[] }> } {
  const deadline = Date.now() + maxMs;
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const versions = new Map<string, number>();
  const failures: string[] = [];
  let ok = 0;
  let stopping = false;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/version', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          if (res.statusCode === 200) {
            ok++;
            const v = (JSON.parse(body) as { version: string }).version;
            versions.set(v, (versions.get(v) ?? 0) + 1);
          } else failures.push(`status ${res.statusCode}: ${body}`);
          resolve();
        });
      });
      req.on('error', (err) => {
        failures.push(err.message);
        resolve();
      });
    });
  const loops = Array.from({ length: clients }, async () => {
    while (!stopping && Date.now() < deadline) await one();
  });
  return {
    stop: async () => {
      stopping = true;
      await Promise.all(loops);
      agent.destroy();
      return { ok, versions, failures };
    },
  };
}

/** Whether something still accepts connections at `address`. */
export function listening(address: string): Promise<boolean> {
  const { host, port } = splitHostPort(address);
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/healthz', agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

/** Live (not zombie) demo-app processes started with `version`: pass a version name no other test uses. */
export function replicasOf(version: string): number {
  let n = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat[stat.lastIndexOf(')') + 2] === 'Z') continue; // a zombie runs nothing
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmd.includes(DEMO_APP) && cmd.includes(version)) n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}
