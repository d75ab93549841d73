// The HTTP API of the daemon (/api/v1) and /healthz. Bodies are validated here, at the edge;
// every error is JSON { error: { code, message } }.
import http from 'node:http';
import { z } from 'zod';
import { CutoverError, badRequest, notFound } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Daemon } from '../controller/daemon.ts';
import { Authenticator, type Caller, type Role } from './auth.ts';

const MAX_BODY = 64 * 1024;

/** A version names a build: it goes into commands, paths and log lines, so it stays plain. */
export const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ReleaseBody = z.strictObject({
  version: z.string({ error: 'expected a version, like {"version": "v2"}' }).regex(VERSION_PATTERN, {
    error: 'a version is 1-64 characters: letters, digits, dot, underscore and dash, starting with a letter or digit (like v2 or 1.4.0-rc.1)',
  }),
});
const ActionBody = z.strictObject({ reason: z.string().max(500).optional() });
const SwitchBody = z.strictObject({ slot: z.enum(['blue', 'green']), force: z.boolean().optional(), reason: z.string().max(500).optional() });

interface Ctx {
  caller: Caller;
  params: string[];
  body: () => Promise<unknown>;
  remote: string;
}

type Handler = (ctx: Ctx) => Promise<unknown>;
interface Route {
  method: string;
  pattern: RegExp;
  role: Role;
  handler: Handler;
  /** The status of a successful answer; default 200. */
  status?: number;
}

export class ApiServer {
  private readonly server: http.Server;
  private readonly routes: Route[];
  private readonly auth: Authenticator;
  private readonly log: Logger;

  constructor(daemon: Daemon, auth: Authenticator, log: Logger) {
    this.auth = auth;
    this.log = log;
    const service = (name: string) => daemon.service(name);
    this.routes = [
      { method: 'GET', pattern: /^\/api\/v1\/services$/, role: 'viewer', handler: async () => Promise.all(daemon.services().map((s) => daemon.status(s.cfg.name))) },
      { method: 'GET', pattern: /^\/api\/v1\/services\/([^/]+)$/, role: 'viewer', handler: async (c) => daemon.status(c.params[0]!) },
      {
        method: 'POST',
        pattern: /^\/api\/v1\/services\/([^/]+)\/releases$/,
        role: 'deployer',
        status: 202,
        handler: async (c) => {
          const releases = daemon.release(c.params[0]!);
          const body = parseBody(ReleaseBody, await c.body());
          return releases.statusOf(await releases.deploy(body.version, actorOf(c)));
        },
      },
      {
        method: 'GET',
        pattern: /^\/api\/v1\/services\/([^/]+)\/releases$/,
        role: 'viewer',
        handler: async (c) => daemon.release(c.params[0]!).list(),
      },
      {
        method: 'GET',
        pattern: /^\/api\/v1\/services\/([^/]+)\/releases\/([^/]+)$/,
        role: 'viewer',
        handler: async (c) => {
          const releases = daemon.release(c.params[0]!);
          return releases.statusOf(await releases.get(c.params[1]!));
        },
      },
      ...(['promote', 'rollback', 'abort'] as const).map(
        (action): Route => ({
          method: 'POST',
          pattern: new RegExp(`^/api/v1/services/([^/]+)/${action}$`),
          role: 'deployer',
          handler: async (c) => {
            const releases = daemon.release(c.params[0]!);
            const body = parseBody(ActionBody, await c.body());
            const actor = actorOf(c);
            const release =
              action === 'promote' ? await releases.promote(actor) : action === 'rollback' ? await releases.rollback(actor, body.reason) : await releases.abort(actor, body.reason);
            return releases.statusOf(release);
          },
        }),
      ),
      {
        method: 'POST',
        pattern: /^\/api\/v1\/services\/([^/]+)\/switch$/,
        role: 'admin',
        handler: async (c) => {
          const svc = service(c.params[0]!);
          const body = parseBody(SwitchBody, await c.body());
          const state = await svc.switchTo(body.slot, actorOf(c), body.reason ?? 'operator switch', { force: body.force ?? false });
          return { service: svc.cfg.name, live: state.live, generation: state.generation };
        },
      },
    ];
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 5000;
    this.server.headersTimeout = 10000;
    this.server.requestTimeout = 60000;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://api');
      if (url.pathname === '/healthz') return send(res, 200, { ok: true });
      let matchedPath = false;
      for (const route of this.routes) {
        const m = route.pattern.exec(url.pathname);
        if (!m) continue;
        matchedPath = true;
        if (route.method !== req.method) continue;
        const caller = this.auth.authenticate(req.headers.authorization);
        Authenticator.require(caller, route.role);
        const params = m.slice(1).map((p) => decodeURIComponent(p));
        const result = await route.handler({ caller, params, body: () => readJson(req), remote: req.socket.remoteAddress ?? '' });
        return send(res, route.status ?? 200, result);
      }
      if (matchedPath) throw new CutoverError('CUTOVER_E_BAD_REQUEST', `${req.method} is not allowed on ${url.pathname}`, 405);
      throw notFound(`no API path ${url.pathname}; see /api/v1/openapi.json`);
    } catch (err) {
      if (err instanceof CutoverError) return send(res, err.status, err.toJSON());
      this.log.error('API request failed', { err, path: req.url });
      send(res, 500, { error: { code: 'CUTOVER_E_INTERNAL', message: 'internal error; see the daemon log' } });
    }
  }

  listen(address: string): Promise<{ host: string; port: number }> {
    const colon = address.lastIndexOf(':');
    const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
    const port = Number(address.slice(colon + 1));
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void =>
        reject(new CutoverError('CUTOVER_E_LISTEN', `the API cannot listen on ${address}: ${err.message}; set api.listen to a free address`, 500, { cause: err }));
      this.server.once('error', onError);
      this.server.listen({ host, port }, () => {
        this.server.off('error', onError);
        const a = this.server.address() as { address: string; port: number };
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function actorOf(c: Ctx): string {
  return `api:${c.caller.name}@${c.remote}`;
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new CutoverError('CUTOVER_E_BODY_TOO_LARGE', `request body over ${MAX_BODY} bytes`, 413);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('request body is not valid JSON');
  }
}

function parseBody<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const msg = r.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
  throw badRequest(`invalid request body: ${msg}`);
}
