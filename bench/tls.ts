// `npm run bench -- --tls`: the edge over TLS beside nginx with the same certificate and upstream.
// h2load (Debian's nghttp2-client) over HTTP/1.1 and HTTP/2, handshakes per second with and without
// session resumption (openssl s_time), and RSS with 1,000 idle TLS connections open.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { processTree } from './cpu.ts';
import { startCutover } from './cutover.ts';
import { startUpstream } from './nginx.ts';
import { freePorts, sleep, startProcess, stopAll, waitForPort } from './proc.ts';

const run = promisify(execFile);
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

function rssKiB(pid: number): number {
  let total = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      total += Number(m?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return total;
}

function makeCert(dir: string): { certificate: string; key: string } {
  const certificate = path.join(dir, 'bench.pem');
  const key = path.join(dir, 'bench.key');
  execFileSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    certificate,
    '-days',
    '1',
    '-subj',
    '/CN=bench.test',
    '-addext',
    'subjectAltName=DNS:bench.test,IP:127.0.0.1',
  ]);
  return { certificate, key };
}

async function startNginxTls(dir: string, port: number, upstreamPort: number, cert: { certificate: string; key: string }) {
  mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  const conf = `${user}worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  keepalive_requests 1000000;
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 256; }
  server {
    listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${cert.certificate};
    ssl_certificate_key ${cert.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`;
  writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const child = startProcess('nginx-tls', 'nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], {
    logFile: path.join(dir, 'stdout.log'),
  });
  await waitForPort(child, port);
  return child;
}

async function h2load(
  url: string,
  h1: boolean,
  seconds: number,
  clients: number,
  streams: number,
): Promise<{ rps: number; failed: number }> {
  const args = ['-D', String(seconds), '-c', String(clients), '-m', String(h1 ? 1 : streams), '--warm-up-time=1', url];
  if (h1) args.unshift('--h1');
  const { stdout } = await run('h2load', args, { maxBuffer: 1 << 24 });
  const rps = Number(/finished in [^,]+, ([0-9.]+) req\/s/.exec(stdout)?.[1] ?? 0);
  const failed = Number(/(\d+) failed/.exec(stdout)?.[1] ?? -1);
  return { rps, failed };
}

async function handshakes(port: number, reuse: boolean, seconds: number): Promise<number> {
  const { stdout } = await run(
    'openssl',
    ['s_time', '-connect', `127.0.0.1:${port}`, reuse ? '-reuse' : '-new', '-time', String(seconds)],
    {
      maxBuffer: 1 << 20,
    },
  ).catch((e) => ({ stdout: String(e.stdout ?? '') }));
  // "N connections in Ts; X connections/user sec": the first line counts wall-clock connections.
  const m = /(\d+) connections in ([0-9.]+)s/.exec(stdout);
  return m ? Math.round(Number(m[1]) / Number(m[2])) : 0;
}

async function idleRss(port: number, pid: number, count: number): Promise<{ before: number; after: number }> {
  const before = rssKiB(pid);
  const sockets: tls.TLSSocket[] = [];
  for (let i = 0; i < count; i++) {
    sockets.push(
      await new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => resolve(s));
        s.once('error', reject);
      }),
    );
  }
  await sleep(1000);
  const after = rssKiB(pid);
  for (const s of sockets) s.destroy();
  return { before, after };
}

export async function main(argv: string[]): Promise<number> {
  const seconds = Number(argv[argv.indexOf('--tls-seconds') + 1]) || 5;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cutover-bench-tls-'));
  try {
    const cert = makeCert(tmp);
    const [blue, green, cPort, api, nPort] = (await freePorts(5)) as [number, number, number, number, number];
    const upstream = await startUpstream(path.join(tmp, 'upstream'), blue, green);
    const cutover = await startCutover(path.join(tmp, 'cutover'), 1, cPort, api, upstream, cert);
    const nginx = await startNginxTls(path.join(tmp, 'nginx'), nPort, blue, cert);
    const rows: Record<string, Record<string, number>> = {};
    for (const [name, port, pid] of [
      ['cutover', cPort, cutover.pid],
      ['nginx', nPort, nginx.pid],
    ] as const) {
      log(`${name}: h2load HTTP/1.1 and HTTP/2, ${seconds}s each`);
      const h1 = await h2load(`https://127.0.0.1:${port}/`, true, seconds, 50, 1);
      const h2 = await h2load(`https://127.0.0.1:${port}/`, false, seconds, 10, 10);
      log(`${name}: handshakes with openssl s_time`);
      const full = await handshakes(port, false, seconds);
      const resumed = await handshakes(port, true, seconds);
      log(`${name}: 1,000 idle TLS connections`);
      const rss = await idleRss(port, pid, 1000);
      rows[name] = {
        h1Rps: h1.rps,
        h1Failed: h1.failed,
        h2Rps: h2.rps,
        h2Failed: h2.failed,
        handshakesPerSec: full,
        resumedPerSec: resumed,
        rssIdleKiB: rss.before,
        rss1000TlsKiB: rss.after,
      };
    }
    const c = rows.cutover as Record<string, number>;
    const n = rows.nginx as Record<string, number>;
    const ratio = (k: string): string => ((c[k] ?? 0) / Math.max(1, n[k] ?? 0)).toFixed(2);
    const lines = [
      '| measure | cutover | nginx | cutover / nginx |',
      '| --- | --- | --- | --- |',
      ...['h1Rps', 'h1Failed', 'h2Rps', 'h2Failed', 'handshakesPerSec', 'resumedPerSec', 'rssIdleKiB', 'rss1000TlsKiB'].map(
        (k) => `| ${k} | ${c[k]} | ${n[k]} | ${ratio(k)} |`,
      ),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    const out = path.join(import.meta.dirname, 'results');
    mkdirSync(out, { recursive: true });
    writeFileSync(
      path.join(out, `tls-${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
      JSON.stringify({ seconds, cores: os.cpus().length, rows }, null, 2),
    );
    await cutover.close();
    await upstream.close();
    return 0;
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}
