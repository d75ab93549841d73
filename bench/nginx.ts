// nginx twice over: as the upstream every target shares (`return 200`, blue and green on two ports, one
// worker) and as a proxy to compare with (proxy_pass to a keep-alive upstream block). Each runs in the
// foreground with its own prefix directory, so nothing of the machine's nginx is touched.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startProcess, waitForPort } from './proc.ts';
import type { Slot, Target, Upstream } from './target.ts';

const run = promisify(execFile);

// Keep-alive connections are never closed for having served "too many" requests: nginx's default of
// 1000 would make every proxy race the upstream's close now and then, which measures nginx, not them.
const KEEPALIVE_REQUESTS = 1_000_000;

function preamble(dir: string, workers: number): string {
  const tmp = path.join(dir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  // As root, nginx's workers would drop to `nobody`, who cannot use the 0700 temp directory.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${user}worker_processes ${workers};
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  default_type text/plain;
  keepalive_requests ${KEEPALIVE_REQUESTS};
  keepalive_timeout 75s;
`;
}

function args(dir: string): string[] {
  return ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')];
}

async function startNginx(name: string, dir: string, conf: string, port: number) {
  writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const child = startProcess(name, 'nginx', args(dir), { logFile: path.join(dir, 'stdout.log') });
  await waitForPort(child, port);
  return child;
}

/** One nginx answering `200 ok` on two ports: blue and green. */
export async function startUpstream(dir: string, blue: number, green: number): Promise<Upstream & { close(): Promise<void> }> {
  mkdirSync(dir, { recursive: true });
  const server = (port: number) => `  server { listen 127.0.0.1:${port}; location / { return 200 "ok\\n"; } }\n`;
  const conf = `${preamble(dir, 1)}${server(blue)}${server(green)}}\n`;
  const child = await startNginx('upstream nginx', dir, conf, blue);
  await waitForPort(child, green);
  return { blue, green, pid: child.pid, close: () => child.stop() };
}

function proxyConf(dir: string, workers: number, port: number, upstreamPort: number): string {
  return `${preamble(dir, workers)}  upstream app {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests ${KEEPALIVE_REQUESTS};
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** nginx as a reverse proxy; a switch rewrites the upstream's address and runs `nginx -s reload`. */
export async function startNginxProxy(dir: string, workers: number, port: number, upstream: Upstream): Promise<Target> {
  mkdirSync(dir, { recursive: true });
  const name = workers === 1 ? 'nginx' : `nginx-w${workers}`;
  const child = await startNginx(name, dir, proxyConf(dir, workers, port, upstream.blue), port);
  let reloadFailures = 0;
  const reloadErrors: string[] = [];
  return {
    name,
    kind: 'nginx',
    workers,
    url: `http://127.0.0.1:${port}/`,
    pid: child.pid,
    switchEveryMs: 1000,
    async switchTo(slot: Slot) {
      writeFileSync(path.join(dir, 'nginx.conf'), proxyConf(dir, workers, port, upstream[slot]));
      try {
        await run('nginx', [...args(dir), '-s', 'reload'], { timeout: 10_000 });
      } catch (err) {
        reloadFailures++;
        reloadErrors.push(String((err as { stderr?: string }).stderr ?? err).trim());
        throw err;
      }
    },
    notes() {
      const log = readFileSync(path.join(dir, 'error.log'), 'utf8');
      const bad = log.split('\n').filter((l) => /\[(error|crit|alert|emerg)\]/.test(l));
      const out: string[] = [];
      if (reloadFailures > 0) out.push(`${reloadFailures} reload command(s) failed: ${reloadErrors.slice(0, 3).join(' | ')}`);
      if (bad.length > 0) out.push(`${bad.length} error line(s) in error.log, e.g. ${bad.slice(0, 3).join(' | ')}`);
      return out;
    },
    close: () => child.stop(),
  };
}
