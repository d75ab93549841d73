// Pieces of the edge tests: services on one edge listener run in-process (real routers, real upstream
// servers, real TLS), clients that trust the test CA, and curl from Debian.
import { execFile } from 'node:child_process';
import http2 from 'node:http2';
import https from 'node:https';
import { AcmeChallenges } from '../src/edge/acme.ts';
import { EdgeListeners, EdgeRouterHost, type EdgeConfig } from '../src/edge/host.ts';
import { createLogger } from '../src/log.ts';
import type { RouterOptions } from '../src/router/router.ts';
import type { RouteSpec } from '../src/router/table.ts';
import { testRouterOptions } from './helpers.ts';

export const quiet = createLogger({ level: 'error' });

export interface EdgeServiceSpec {
  name: string;
  edge: EdgeConfig;
  blue: string[];
  green?: string[];
  acme?: { retryBase?: number; attemptTimeout?: number };
  router?: Partial<RouterOptions>;
}

export function liveSpec(service: string, blue: string[], green: string[], live: 'blue' | 'green', generation: number): RouteSpec {
  return {
    service,
    generation,
    live,
    weights: live === 'blue' ? { blue: 100, green: 0 } : { blue: 0, green: 100 },
    slots: { blue: { version: 'b', targets: blue }, green: { version: 'g', targets: green } },
  };
}

/** Starts every service on one listener (`127.0.0.1:0` unless given) with blue live; returns the hosts and the port. */
export async function startEdge(
  specs: EdgeServiceSpec[],
  listen = '127.0.0.1:0',
  registry = new EdgeListeners(new AcmeChallenges()),
): Promise<{ hosts: Map<string, EdgeRouterHost>; port: number; close(): Promise<void> }> {
  const hosts = new Map<string, EdgeRouterHost>();
  for (const s of specs) {
    const opts = { ...testRouterOptions(0, { service: s.name, ...s.router }), listen };
    const h = new EdgeRouterHost(opts, s.edge, quiet, registry, s.acme);
    for (const a of [...s.blue, ...(s.green ?? [])]) h.setHealth(a, true);
    await h.apply(liveSpec(s.name, s.blue, s.green ?? [], 'blue', 1));
    await h.listen();
    hosts.set(s.name, h);
  }
  const port = (hosts.values().next().value as EdgeRouterHost).address().port;
  return {
    hosts,
    port,
    close: async () => {
      for (const h of hosts.values()) await h.close();
    },
  };
}

export interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
  trailers?: Record<string, string | string[] | undefined>;
}

/** One HTTP/1.1 request over TLS with Host set to `host` (and SNI too, unless `servername` says otherwise). */
export function httpsGet(port: number, host: string, path: string, ca: string, servername = host): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, servername, headers: { host }, ca, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** An HTTP/2 session to the listener for `host` (SNI and :authority). */
export function h2Connect(port: number, host: string, ca: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`https://${host}:${port}`, {
      ca,
      servername: host,
      host: '127.0.0.1',
      lookup: (_h, _o, cb) => cb(null, '127.0.0.1', 4),
    } as http2.SecureClientSessionOptions);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

export function h2Request(
  session: http2.ClientHttp2Session,
  path: string,
  headers: http2.OutgoingHttpHeaders = {},
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path, ...headers }, { endStream: body === undefined });
    const answer: Answer = { status: 0, body: '', headers: {} };
    // Node may emit the first 'data' before 'response': keep the body apart from the headers.
    req.on('response', (h) => {
      answer.status = Number(h[':status']);
      answer.headers = h;
    });
    req.on('trailers', (t) => {
      answer.trailers = t;
    });
    req.setEncoding('utf8');
    req.on('data', (d) => (answer.body += d));
    req.on('end', () => resolve(answer));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}

/** Debian's curl: `--http2` over TLS, resolving `host` to loopback; prints version, status and body. */
export function curl(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', ...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}
