// Our own differential HTTP test (issue 17): every request of test/fixtures/http-corpus.ts is sent to
// the router and to Debian's nginx, whole and split at every byte (two writes, a few ms apart),
// each on a fresh connection, and what a recording upstream (node:http) received is compared with
// what the corpus says a careful proxy forwards: the same request every time, or nothing at all.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Router } from '../src/router/router.ts';
import { CORPUS, type Forwarded } from './fixtures/http-corpus.ts';
import { freePort, testRouterOptions, waitFor } from './helpers.ts';

const CONCURRENCY = 24;
const SEND_TIMEOUT_MS = 1500;

interface Recorder {
  port: number;
  seen: Forwarded[];
  close(): Promise<void>;
}

/** Records each request as its head arrives, and its body once whole (a cut body stays '' + marked). */
async function recorder(): Promise<Recorder> {
  const seen: Forwarded[] = [];
  const server = http.createServer((req, res) => {
    const s: Forwarded = { method: req.method ?? '', url: req.url ?? '', host: (req.headers.host ?? '').toLowerCase(), body: '' };
    seen.push(s);
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      s.body = body;
      res.end('ok');
    });
    req.on('error', () => (s.body = '<cut>'));
  });
  // What the upstream's own parser refused was still sent to it: recorded, so it counts as forwarded.
  server.on('clientError', (err: Error & { code?: string }, socket) => {
    seen.push({ method: '<unparsable>', url: '', host: '', body: err.code ?? '' });
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** One connection: the request in one write, or cut at `at` into two writes 3 ms apart. */
function send(port: number, bytes: Buffer, at: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const t = setTimeout(() => s.destroy(), SEND_TIMEOUT_MS);
    s.on('close', () => {
      clearTimeout(t);
      resolve();
    });
    s.on('error', () => {});
    s.resume();
    s.once('connect', () => {
      if (at <= 0) {
        s.write(bytes);
        return;
      }
      s.write(bytes.subarray(0, at));
      setTimeout(() => {
        if (!s.destroyed) s.write(bytes.subarray(at));
      }, 3);
    });
  });
}

/** Sends the case whole and split at every byte; returns how many sends there were. */
async function sendAll(port: number, request: string): Promise<number> {
  const bytes = Buffer.from(request, 'latin1');
  const cuts = [0];
  for (let i = 1; i < bytes.length; i++) cuts.push(i);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < cuts.length) await send(port, bytes, cuts[next++] as number);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  return cuts.length;
}

/** What the upstream got for one case: every send's request when forwarded, nothing when refused. */
async function observe(up: Recorder, port: number, request: string): Promise<{ sends: number; got: Forwarded[] }> {
  const from = up.seen.length;
  const sends = await sendAll(port, request);
  // Requests the proxy forwarded are recorded by the time their answers came; a short grace for bodies.
  await new Promise((r) => setTimeout(r, 20));
  return { sends, got: up.seen.slice(from) };
}

function check(name: string, who: string, expected: Forwarded | null, sends: number, got: Forwarded[]): void {
  if (expected === null) {
    assert.deepEqual(got, [], `${who} must refuse "${name}" before any upstream sees it`);
    return;
  }
  // A bodiless GET may be sent again after an upstream closed a pooled connection under it (the
  // keep-alive race; nginx and we both retry those): at least once per send, never lost.
  if (expected.method === 'GET' && expected.body === '')
    assert.ok(got.length >= sends, `${who} forwards "${name}" every time (${got.length} of ${sends})`);
  else assert.equal(got.length, sends, `${who} forwards "${name}" once per send, whole or split at any byte`);
  for (const g of got) assert.deepEqual(g, expected, `${who}: what the upstream got for "${name}"`);
}

function nginxConf(dir: string, port: number, upstreamPort: number): string {
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${user}worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://127.0.0.1:${upstreamPort};
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Connection "";
    }
  }
}
`;
}

describe('the router and nginx, side by side, on a corpus of desync and RFC 9112 cases', () => {
  let dir: string;
  let routerUp: Recorder;
  let nginxUp: Recorder;
  let router: Router;
  let routerPort: number;
  let nginxPort: number;
  let nginx: ChildProcess;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cutover-diff-'));
    routerUp = await recorder();
    nginxUp = await recorder();
    routerPort = await freePort();
    router = new Router(testRouterOptions(routerPort, { headersTimeout: 1000, bodyTimeout: 1000 }));
    await router.listen();
    const target = `127.0.0.1:${routerUp.port}`;
    router.apply({
      service: 'web',
      generation: 2,
      live: 'blue',
      weights: { blue: 100, green: 0 },
      slots: { blue: { version: 'v1', targets: [target] }, green: { version: null, targets: [] } },
    });
    router.setHealth(target, true);
    nginxPort = await freePort();
    mkdirSync(join(dir, 'logs'), { recursive: true });
    writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, nginxPort, nginxUp.port));
    nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: 'ignore' });
    await waitFor(
      'nginx listening',
      () =>
        new Promise<boolean>((resolve) => {
          const s = net.connect(nginxPort, '127.0.0.1');
          s.once('connect', () => {
            s.destroy();
            resolve(true);
          });
          s.once('error', () => resolve(false));
        }),
      10_000,
    );
  });
  after(async () => {
    await router.close();
    nginx.kill('SIGTERM');
    await routerUp.close();
    await nginxUp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const c of CORPUS) {
    test(`${c.name} (${c.source}): ${c.forward === null ? 'refused by both' : 'forwarded the same by both'}${c.nginx ? `, except nginx ${c.nginx.forward === null ? 'refuses' : 'forwards'} it` : ''}`, async () => {
      const [r, n] = await Promise.all([observe(routerUp, routerPort, c.request), observe(nginxUp, nginxPort, c.request)]);
      check(c.name, 'the router', c.forward, r.sends, r.got);
      check(c.name, 'nginx', c.nginx ? c.nginx.forward : c.forward, n.sends, n.got);
    });
  }
});
