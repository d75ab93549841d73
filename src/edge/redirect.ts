// The `httpRedirect` listener: plain HTTP that answers ACME HTTP-01 challenges and sends everything
// else to https on the TLS listener that serves its host. A host no TLS listener serves gets 421, so
// the listener is never an open redirect.
import http from 'node:http';
import { CutoverError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { splitHostPort } from '../net/address.ts';
import type { AcmeChallenges } from './acme.ts';
import { normaliseHost } from './match.ts';

const CHALLENGE = '/.well-known/acme-challenge/';

/**
 * A TLS service on a listener of another process (the supervisor's router processes of another
 * listen address): what it claims and the https port that serves it, so a redirect listener served
 * elsewhere sends its hosts to the right port.
 */
export interface RedirectRoute {
  service: string;
  /** Lower-case, as the service names them. */
  hosts: string[];
  /** Normalised (match.ts normalisePrefix). */
  pathPrefix: string;
  port: number;
}

/** The keyed state (edge/worker.ts `state`) under which a router process gets every TLS service's RedirectRoute. */
export const REDIRECT_ROUTES_KEY = 'redirect-routes';

export interface RedirectOptions {
  listen: string;
  /** Bind with SO_REUSEPORT (one of a service's `workers` processes). */
  reusePort?: boolean;
  /** A bound socket handed over by the process that owns it (the supervisor), listened on instead of `listen`. */
  handle?: object | undefined;
  challenges: AcmeChallenges;
  /** The TLS port that serves `host`, or null when none does. */
  portFor: (host: string, path: string) => number | null;
  log: Logger;
}

function plain(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(`${body}\n`),
    'x-cutover-error': '1',
  });
  res.end(`${body}\n`);
}

export class RedirectListener {
  private readonly opts: RedirectOptions;
  private readonly server: http.Server;

  constructor(opts: RedirectOptions) {
    this.opts = opts;
    this.server = http.createServer({ maxHeaderSize: 16384, requestTimeout: 10_000, headersTimeout: 10_000 }, (req, res) =>
      this.handle(req, res),
    );
    this.server.keepAliveTimeout = 5000;
    this.server.on('clientError', (_err, socket) => socket.destroy());
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.resume();
    const url = req.url ?? '/';
    if (url.startsWith(CHALLENGE) && (req.method === 'GET' || req.method === 'HEAD')) {
      const keyAuth = this.opts.challenges.http.get(url.slice(CHALLENGE.length));
      if (keyAuth === undefined) return plain(res, 404, 'no such ACME challenge');
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(keyAuth) });
      res.end(keyAuth);
      return;
    }
    const host = normaliseHost(req.headers.host ?? null);
    const port = host === '' ? null : this.opts.portFor(host, url.startsWith('/') ? url : '/');
    if (port === null) return plain(res, 421, `no https service for host ${host || '(none)'} here`);
    const authority = port === 443 ? host : `${host.includes(':') ? `[${host}]` : host}:${port}`;
    // 308 keeps a POST a POST; GET and HEAD get the 301 every browser caches.
    const status = req.method === 'GET' || req.method === 'HEAD' ? 301 : 308;
    res.writeHead(status, { location: `https://${authority}${url.startsWith('/') ? url : '/'}`, 'content-length': 0 });
    res.end();
  }

  async start(): Promise<void> {
    const { host, port } = splitHostPort(this.opts.listen);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (err) =>
        reject(
          new CutoverError(
            'CUTOVER_E_LISTEN',
            `cannot listen on ${this.opts.listen} (httpRedirect): ${err.message}; pick a free address in \`httpRedirect\``,
            500,
            { cause: err },
          ),
        ),
      );
      if (this.opts.handle !== undefined) this.server.listen(this.opts.handle, () => resolve());
      else this.server.listen({ host, port, reusePort: this.opts.reusePort ?? false }, () => resolve());
    });
    this.opts.challenges.httpListeners++;
  }

  port(): number {
    return (this.server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    this.opts.challenges.httpListeners--;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
