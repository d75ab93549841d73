// Shared pieces of the integration tests: real upstream servers, the real daemon as a child process,
// free ports, and bounded waits.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { RouterOptions } from '../src/router/router.ts';

export const ROOT = new URL('..', import.meta.url).pathname;
export const CLI = join(ROOT, 'src/cli/main.ts');

/**
 * A port nothing listens on, for a daemon, router or server a test starts a moment later. Not the
 * kernel's choice (listen on port 0): that comes from the ephemeral range, where every outgoing
 * connection of the load tests running beside takes its port, and one of them could take this one
 * before the daemon binds it (a start failing once in a few hundred runs). Ports below that range are
 * never handed out by the kernel; each file walks them from a random start, so two files running at
 * once rarely meet, and a port is never handed out twice within a file.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = PORTS_LOW + (portCursor++ % (PORTS_HIGH - PORTS_LOW));
    if (await listensOn(port)) return port;
  }
  return listensOn(0) as Promise<number>;
}

/** Where the kernel's ephemeral ports start (32768 by default on Linux). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : 32768;
  } catch {
    return 32768;
  }
}

const PORTS_LOW = 10_000;
const PORTS_HIGH = Math.max(PORTS_LOW + 1000, ephemeralLow());
let portCursor = Math.floor(Math.random() * (PORTS_HIGH - PORTS_LOW));

/** Listens on 127.0.0.1:port and closes again: the port it got, or false when it is taken. */
function listensOn(port: number): Promise<number | false> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.on('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => {
      const got = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(got));
    });
  });
}

/**
 * How long a test waits for `cutover up` to answer. It starts in a second or two on a quiet machine;
 * on a loaded shared one it took over 15 s, and a bound on start-up is not what these tests measure.
 */
export const DAEMON_START_MS = 60_000;

/** Thrown by a waitFor condition that can never hold any more (what it waits on has exited): the wait ends at once with it. */
export class GiveUp extends Error {}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  let lastThrew = false;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
      lastThrew = false;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      last = err;
      lastThrew = true;
    }
    // An error of an earlier try is named as such: the condition may simply not have held since.
    const why = last ? (lastThrew ? `: ${String(last)}` : ` (an earlier try failed: ${String(last)})`) : '';
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${why}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface Upstream {
  slot: string;
  port: number;
  address: string;
  server: http.Server;
  /** TCP connections accepted so far, and those that carried a request other than a health check. */
  connections: number;
  userConnections: number;
  close(): Promise<void>;
}

/** An HTTP server that answers with its slot name in `x-slot` and the body; `handler` can take over. */
export async function startUpstream(
  slot: string,
  handler?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean | undefined,
): Promise<Upstream> {
  const seen = new WeakSet<net.Socket>();
  const up: Upstream = {
    slot,
    port: 0,
    address: '',
    server: http.createServer((req, res) => {
      if (req.url !== '/healthz' && !seen.has(req.socket)) {
        seen.add(req.socket);
        up.userConnections++;
      }
      if (req.url === '/healthz') {
        res.end('ok');
        return;
      }
      res.setHeader('x-slot', slot);
      if (handler && handler(req, res) !== false) return;
      req.resume();
      req.on('end', () => res.end(slot));
    }),
    connections: 0,
    userConnections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        up.server.closeAllConnections();
        up.server.close(() => resolve());
      }),
  };
  up.server.keepAliveTimeout = 30_000;
  // Neither the server nor its connections keep the test file running: a test that fails before its
  // clean-up (a daemon that never answered) then ends as a failure instead of hanging its file until
  // the runner's limit, and the routers' pooled connections to it do not hold it open either.
  up.server.on('connection', (socket: net.Socket) => {
    up.connections++;
    socket.unref();
  });
  up.server.unref();
  await new Promise<void>((resolve) => up.server.listen(0, '127.0.0.1', resolve));
  up.port = (up.server.address() as net.AddressInfo).port;
  up.address = `127.0.0.1:${up.port}`;
  return up;
}

export interface Daemon {
  child: ChildProcess;
  dir: string;
  port: number;
  apiPort: number;
  token: string;
  output: () => string;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  switchTo(slot: 'blue' | 'green', service?: string): Promise<{ status: number; json: any }>;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  service?: Record<string, unknown>;
  services?: Record<string, Record<string, unknown>>;
  waitHealthy?: boolean;
}

/** Starts `cutover up` as a child process with one static service `web` (blue and green given). */
export async function startDaemon(blue: string[], green: string[], opts: DaemonOptions = {}): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-test-'));
  const port = await freePort();
  const apiPort = await freePort();
  const token = `test-token-${Math.random().toString(36).slice(2)}`;
  const config = {
    api: { listen: `127.0.0.1:${apiPort}` },
    stateDir: join(dir, 'state'),
    services: opts.services ?? {
      web: {
        listen: `127.0.0.1:${port}`,
        drain: '2s',
        provider: { kind: 'static', blue, green },
        health: { path: '/healthz', interval: '100ms' },
        ...opts.service,
      },
    },
  };
  const file = join(dir, 'cutover.yaml');
  writeFileSync(file, stringify(config));
  let out = '';
  const child = spawn(process.execPath, [CLI, 'up', '-c', file], {
    env: { ...process.env, CUTOVER_TOKEN: token, CUTOVER_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${apiPort}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as any };
  };
  const d: Daemon = {
    child,
    dir,
    port,
    apiPort,
    token,
    output: () => out,
    api,
    switchTo: (slot, service = 'web') => api('POST', `/api/v1/services/${service}/switch`, { slot }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 8000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(
      'the daemon API',
      async () => {
        if (child.exitCode !== null) throw new GiveUp(`daemon exited ${child.exitCode}: ${out}`);
        // Bounded: whatever holds the port may take the connection and never answer.
        const r = await fetch(`http://127.0.0.1:${apiPort}/healthz`, { signal: AbortSignal.timeout(5000) });
        return r.ok;
      },
      DAEMON_START_MS,
    );
    if (opts.waitHealthy !== false && !opts.services) {
      await waitFor('healthy targets', async () => {
        const r = await api('GET', '/api/v1/services/web');
        const all = [...r.json.slots.blue.targets, ...r.json.slots.green.targets];
        return all.every((t: { healthy: boolean }) => t.healthy);
      });
    }
  } catch (err) {
    await d.stop();
    throw err;
  }
  return d;
}

/** One raw HTTP exchange on a fresh TCP connection: what was written back, until the server closes or `ms` pass. */
export function rawExchange(port: number, payload: string | Buffer, ms = 2000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    const t = setTimeout(() => s.destroy(), ms);
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('close', () => {
      clearTimeout(t);
      resolve(out);
    });
    s.on('error', () => {});
    s.write(payload);
  });
}

/** Options for a Router started in-process by a test, on 127.0.0.1:port, with short timeouts. */
export function testRouterOptions(port: number, extra: Partial<RouterOptions> = {}): RouterOptions {
  return {
    service: 'web',
    listen: `127.0.0.1:${port}`,
    reusePort: false,
    drain: 1000,
    maxHeaderBytes: 16384,
    maxHeaders: 100,
    headersTimeout: 5000,
    idleTimeout: 10000,
    responseTimeout: 3000,
    connectTimeout: 1000,
    upstreamIdle: 4000,
    via: false,
    maxIdlePerTarget: 64,
    previewHeader: 'x-cutover-preview',
    previewCookie: 'cutover-preview',
    stickyCookie: 'cutover-slot',
    stickyAttributes: 'Path=/; HttpOnly; SameSite=Lax',
    bodyTimeout: 30000,
    trustedProxies: [],
    maxConnections: 0,
    ...extra,
  };
}
