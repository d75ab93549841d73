// Real balancers for the traffic adapter tests and the bench: Debian's HAProxy, nginx and Caddy started
// on free loopback ports in a temporary folder, and a steady keep-alive load through them that counts
// every failed request and which slot answered.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import type { TrafficState } from '../src/traffic/types.ts';
import { freePort, GiveUp, waitFor } from './helpers.ts';

export interface Balancer {
  /** Where users' traffic enters. */
  port: number;
  child: ChildProcess;
  output(): string;
  /** Stops the process (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void>;
}

function run(cmd: string, args: string[], port: number, cwd: string): Promise<Balancer> {
  return runWithEnv(cmd, args, port, cwd, {});
}

function runWithEnv(cmd: string, args: string[], port: number, cwd: string, env: Record<string, string>): Promise<Balancer> {
  let out = '';
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const b: Balancer = {
    port,
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
  return waitFor(
    `${cmd} listening on ${port}`,
    async () => {
      if (child.exitCode !== null) throw new GiveUp(`${cmd} exited ${child.exitCode}: ${out}`);
      await fetch(`http://127.0.0.1:${port}/`).then((r) => r.arrayBuffer());
      return b;
    },
    10_000,
  ).catch(async (err) => {
    await b.stop();
    throw err;
  });
}

export interface HaproxyServer extends Balancer {
  socket: string;
  backend: string;
}

/** HAProxy with an empty backend `web` that cutover fills with dynamic servers; `level` of the stats socket. */
export async function startHaproxy(dir: string, opts: { port?: number; level?: 'admin' | 'operator' } = {}): Promise<HaproxyServer> {
  const port = opts.port ?? (await freePort());
  const socket = join(dir, 'admin.sock');
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(
    file,
    `global
  maxconn 4096
  stats socket ${socket} mode 600 level ${opts.level ?? 'admin'}

defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s

frontend fe
  bind 127.0.0.1:${port}
  default_backend web

backend web
  balance roundrobin
`,
  );
  const b = await run('haproxy', ['-f', file, '-db'], port, dir);
  return { ...b, socket, backend: 'web' };
}

export interface LoadResult {
  ok: number;
  failed: number;
  bySlot: Record<string, number>;
  /** The first few failures, for the assertion message. */
  errors: string[];
}

export interface Load {
  /** Counts so far. */
  now(): LoadResult;
  /** Stops sending and resolves with the totals once every loop ended. */
  stop(): Promise<LoadResult>;
}

/**
 * `connections` clients, each sending GET / one after the other on its own keep-alive connection,
 * until stopped (and at most `maxSeconds`). A request fails on a network error or a status >= 500.
 */
export function keepAliveLoad(port: number, connections = 20, maxSeconds = 60): Load {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections, keepAliveMsecs: 1000 });
  const result: LoadResult = { ok: 0, failed: 0, bySlot: {}, errors: [] };
  const deadline = Date.now() + maxSeconds * 1000;
  let stopped = false;
  const fail = (why: string) => {
    result.failed++;
    if (result.errors.length < 10) result.errors.push(why);
  };
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent, timeout: 5000 }, (res) => {
        res.resume();
        res.on('end', () => {
          if ((res.statusCode ?? 0) >= 500) fail(`status ${res.statusCode}`);
          else {
            result.ok++;
            const slot = String(res.headers['x-slot'] ?? 'none');
            result.bySlot[slot] = (result.bySlot[slot] ?? 0) + 1;
          }
          resolve();
        });
        res.on('error', (err) => {
          fail(`response: ${err.message}`);
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => {
        fail(`${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`);
        resolve();
      });
    });
  const loops = Array.from({ length: connections }, async () => {
    while (!stopped && Date.now() < deadline) await one();
  });
  return {
    now: () => ({ ...result, bySlot: { ...result.bySlot }, errors: [...result.errors] }),
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      agent.destroy();
      return result;
    },
  };
}

export interface NginxServer extends Balancer {
  upstreamFile: string;
  /** The check and reload commands for this nginx (its own prefix, config and error log). */
  check: string[];
  reload: string[];
}

/** nginx whose `http {}` includes the upstream file cutover writes, proxying / to upstream `web`. */
export async function startNginx(dir: string, opts: { keepaliveTimeout?: string } = {}): Promise<NginxServer> {
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  const upstreamFile = join(dir, 'web-upstream.conf');
  writeFileSync(upstreamFile, 'upstream web {\n    server 127.0.0.1:9 down;\n}\n');
  writeFileSync(
    conf,
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_timeout ${opts.keepaliveTimeout ?? '75s'};
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${upstreamFile};
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://web;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout http_502;
    }
  }
}
`,
  );
  const base = ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')];
  const b = await run('nginx', [...base, '-g', 'daemon off;'], port, dir);
  return { ...b, upstreamFile, check: ['nginx', ...base, '-t', '-q'], reload: ['nginx', ...base, '-s', 'reload'] };
}

export interface CaddyServer extends Balancer {
  admin: string;
  route: string;
}

/** Caddy with one server whose route `@id: web` reverse-proxies to nothing yet, its admin API on loopback. */
export async function startCaddy(dir: string, opts: { upstreamIdle?: string } = {}): Promise<CaddyServer> {
  const port = await freePort();
  const adminPort = await freePort();
  const proxy: Record<string, unknown> = { handler: 'reverse_proxy', upstreams: [{ dial: '127.0.0.1:9' }] };
  if (opts.upstreamIdle) proxy.transport = { protocol: 'http', keep_alive: { idle_timeout: opts.upstreamIdle } };
  const config = {
    admin: { listen: `127.0.0.1:${adminPort}` },
    logging: { logs: { default: { level: 'ERROR' } } },
    storage: { module: 'file_system', root: join(dir, 'data') },
    apps: { http: { servers: { web: { listen: [`127.0.0.1:${port}`], routes: [{ '@id': 'web', handle: [proxy] }] } } } },
  };
  const file = join(dir, 'caddy.json');
  writeFileSync(file, JSON.stringify(config));
  const b = await runWithEnv('caddy', ['run', '--config', file], port, dir, { HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir });
  return { ...b, admin: `http://127.0.0.1:${adminPort}`, route: 'web' };
}

/** The route state an adapter is asked to apply: `live` at full weight unless weights are given. */
export function trafficState(
  generation: number,
  live: 'blue' | 'green',
  blue: readonly { address: string }[],
  green: readonly { address: string }[],
  weights?: TrafficState['weights'],
): TrafficState {
  return {
    generation,
    live,
    weights: weights ?? { blue: live === 'blue' ? 100 : 0, green: live === 'green' ? 100 : 0 },
    slots: { blue: { version: '1', targets: blue.map((u) => u.address) }, green: { version: '2', targets: green.map((u) => u.address) } },
  };
}
