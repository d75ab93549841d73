// The HTTP API of the daemon (/api/v1), /metrics, /healthz and the dashboard. Each route (routes.ts)
// names the least role that may call it; bodies are validated here, at the edge, with the zod schemas
// the OpenAPI document is made from; every error is JSON { error: { code, message } }; every mutating
// call is written to the audit log.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { CutoverError, notFound } from '../errors.ts';
import type { Logger } from '../log.ts';
import { isIP } from 'node:net';
import { isLoopbackHost, splitHostPort } from '../net/address.ts';
import { Authenticator, type Caller } from './auth.ts';
import { AUDIT_ALL, writeAudit } from './audit.ts';
import { parseBody, readJson, send, sendError } from './http.ts';
import type { ControlPlane } from './control.ts';
import type { MetricsExporter } from './metrics.ts';
import { openApiDocument } from './openapi.ts';
import { apiRoutes, type Ctx, type Route } from './routes.ts';

export { VERSION_PATTERN } from './schemas.ts';

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

interface Compiled extends Route {
  pattern: RegExp;
  names: string[];
}

function compile(r: Route): Compiled {
  const names: string[] = [];
  const source = r.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { ...r, pattern: new RegExp(`^${source}$`), names };
}

export interface ApiExtras {
  /** More routes (the event stream) from the pieces the daemon makes. */
  routes?: Route[];
  /** Answers /metrics, without a token: the API listens on loopback unless configured otherwise. */
  metrics?: MetricsExporter;
  /** api.metricsToken: /metrics asks for a viewer token like the API. */
  metricsToken?: boolean;
  /** api.hosts: names besides IP addresses that reach this API (the Host check against DNS rebinding). */
  hosts?: string[];
  /** Paths outside /api/ answered without a token (the dashboard's files; it signs in by itself). */
  open?: (req: http.IncomingMessage, res: http.ServerResponse, path: string) => boolean | Promise<boolean>;
}

export class ApiServer {
  private readonly server: http.Server;
  private readonly routes: Compiled[];
  private readonly auth: Authenticator;
  private readonly log: Logger;
  private readonly daemon: ControlPlane;
  private readonly extras: ApiExtras;
  private openapi: unknown = null;
  /** Names besides IP addresses that reach this API (api.hosts), lower case. */
  private readonly hosts: Set<string>;
  /** What listen() was given, for messages; whether it is a loopback address. */
  private listening = '';
  private loopbackOnly = true;

  constructor(daemon: ControlPlane, auth: Authenticator, log: Logger, extras: ApiExtras = {}) {
    this.daemon = daemon;
    this.auth = auth;
    this.log = log;
    this.extras = extras;
    this.hosts = new Set((extras.hosts ?? []).map((h) => h.toLowerCase()));
    this.routes = [...apiRoutes(daemon), ...(extras.routes ?? [])].map(compile);
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 5000;
    this.server.headersTimeout = 10000;
    this.server.requestTimeout = 60000;
  }

  /** Every route, for the OpenAPI document. */
  routeList(): readonly Route[] {
    return this.routes;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://api');
      if (url.pathname === '/healthz') return send(res, 200, { ok: true });
      this.checkHost(req.headers.host);
      if (url.pathname === '/api/v1/openapi.json' && req.method === 'GET')
        return send(res, 200, (this.openapi ??= openApiDocument(this.routes, PACKAGE_VERSION)));
      if (url.pathname === '/metrics' && this.extras.metrics) {
        if (req.method !== 'GET') throw new CutoverError('CUTOVER_E_BAD_REQUEST', 'only GET /metrics', 405);
        // api.metricsToken: Prometheus sends a viewer token (bearer_token in its scrape config).
        if (this.extras.metricsToken) Authenticator.require(await this.auth.authenticate(req.headers.authorization), 'viewer');
        const text = await this.extras.metrics.scrape();
        res.writeHead(200, { 'content-type': this.extras.metrics.contentType, 'cache-control': 'no-store' });
        res.end(text);
        return;
      }
      if (!url.pathname.startsWith('/api/') && this.extras.open && (await this.extras.open(req, res, url.pathname))) return;
      const allowed: string[] = [];
      for (const r of this.routes) {
        const m = r.pattern.exec(url.pathname);
        if (!m) continue;
        allowed.push(r.method);
        if (r.method !== req.method) continue;
        return await this.dispatch(r, m, url, req, res);
      }
      if (allowed.length > 0) {
        res.setHeader('allow', allowed.join(', '));
        throw new CutoverError(
          'CUTOVER_E_BAD_REQUEST',
          `${req.method} is not allowed on ${url.pathname}; use ${allowed.join(' or ')}`,
          405,
        );
      }
      throw notFound(`no API path ${url.pathname}; see /api/v1/openapi.json`);
    } catch (err) {
      if (err instanceof CutoverError) return sendError(res, err);
      this.log.error('API request failed', { err, path: req.url });
      if (res.headersSent) res.destroy();
      else send(res, 500, { error: { code: 'CUTOVER_E_INTERNAL', message: 'internal error; see the daemon log' } });
    }
  }

  private async dispatch(r: Compiled, m: RegExpExecArray, url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const remote = req.socket.remoteAddress ?? '';
    const mutating = req.method !== 'GET';
    const params: Record<string, string> = {};
    let caller: Caller | null = null;
    let body: unknown = null;
    try {
      // Decoded first, so that a refused call is audited with its service.
      r.names.forEach((name, i) => (params[name] = decodeParam(name, m[i + 1]!)));
      caller = await this.auth.authenticate(req.headers.authorization);
      Authenticator.require(caller, r.role);
      // Mutating: the body is read and validated before anything happens (a bad one changes nothing).
      if (mutating) {
        body = await readJson(req);
        body = r.body ? parseBody(r.body, body) : body;
      }
    } catch (err) {
      // A refused call that would have changed something (401, 403, 400, 413) is audited like a done one.
      if (mutating && err instanceof CutoverError) {
        await writeAudit(this.daemon.store(), this.log, {
          service: params.service !== undefined && this.daemon.hasService(params.service) ? params.service : AUDIT_ALL,
          caller: caller ?? UNAUTHENTICATED,
          method: req.method!,
          path: url.pathname,
          status: err.status,
          remote,
          body,
          result: undefined,
          error: err.code,
        });
      }
      throw err;
    }
    const ctx: Ctx = { caller, params, query: url.searchParams, body: mutating ? body : undefined, remote };
    if (r.stream) return r.stream(req, res, ctx);
    if (!mutating) return send(res, r.status ?? 200, await r.handler(ctx));
    // The call is written to the audit log whatever its outcome.
    let status = r.status ?? 200;
    let result: unknown;
    let failure: CutoverError | null = null;
    try {
      result = await r.handler(ctx);
    } catch (err) {
      failure =
        err instanceof CutoverError
          ? err
          : new CutoverError('CUTOVER_E_INTERNAL', 'internal error; see the daemon log', 500, { cause: err });
      status = failure.status;
      if (!(err instanceof CutoverError)) this.log.error('API request failed', { err, path: req.url });
    }
    await writeAudit(this.daemon.store(), this.log, {
      service: params.service !== undefined && this.daemon.hasService(params.service) ? params.service : AUDIT_ALL,
      caller,
      method: req.method!,
      path: url.pathname,
      status,
      remote,
      body: ctx.body,
      result,
      error: failure?.code ?? null,
    });
    if (failure) throw failure;
    send(res, status, result);
  }

  /**
   * DNS rebinding: a web page whose name points at this API's address gets its requests here with
   * its own name in Host. Only IP addresses (loopback ones when the API listens on loopback),
   * localhost and the names in api.hosts are this API.
   */
  private checkHost(header: string | undefined): void {
    if (header === undefined) return; // HTTP/1.0 without Host: no browser sends that
    let name: string;
    try {
      name = new URL(`http://${header}`).hostname.replace(/^\[|\]$/g, '').toLowerCase();
    } catch {
      throw new CutoverError('CUTOVER_E_BAD_REQUEST', `the Host header ${JSON.stringify(header)} is not host[:port]`, 400);
    }
    if (this.hosts.has(name)) return;
    if ((name === 'localhost' || isIP(name) !== 0) && (!this.loopbackOnly || isLoopbackHost(name))) return;
    throw new CutoverError(
      'CUTOVER_E_FORBIDDEN',
      `Host ${header} is not an address of this API (${this.listening}); to reach it by that name, add ${name} to api.hosts (the check stops DNS rebinding)`,
      403,
    );
  }

  listen(address: string): Promise<{ host: string; port: number }> {
    const { host, port } = splitHostPort(address);
    this.listening = address;
    this.loopbackOnly = isLoopbackHost(host);
    if (!this.loopbackOnly) {
      this.log.warn('the API listens beyond this machine, over plain HTTP: tokens and the dashboard cross the network unencrypted', {
        listen: address,
        hint: 'put a TLS proxy in front of it, or set api.listen to 127.0.0.1',
      });
    }
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void =>
        reject(
          new CutoverError(
            'CUTOVER_E_LISTEN',
            `the API cannot listen on ${address}: ${err.message}; set api.listen to a free address`,
            500,
            { cause: err },
          ),
        );
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

/** Who a call that showed no valid token is, in the audit log. */
const UNAUTHENTICATED = { name: 'unauthenticated', role: 'none', tokenId: null } as const;

/** A path parameter, decoded; malformed percent-encoding is the client's error (400), not ours. */
function decodeParam(name: string, raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new CutoverError(
      'CUTOVER_E_BAD_REQUEST',
      `the ${name} in the path is not valid percent-encoding (${raw}); encode it as UTF-8`,
      400,
    );
  }
}
