// An edge listener: one socket serving one or more services, over TLS (a certificate per host by SNI,
// HTTP/2 or HTTP/1.1 by ALPN) or plain HTTP/1.1. Each request is given to its service by Host and
// path (match.ts), then to a slot by that service's router as on a listener of its own. HTTP/1.1
// connections run the router's own connection code (router/conn.ts); HTTP/2 streams run h2.ts.
import http2 from 'node:http2';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { CutoverError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { splitHostPort } from '../net/address.ts';
import { ClientConn, type ConnHost, type ConnOptions, type ServiceSelector } from '../router/conn.ts';
import { drawFault, FAULT_NONE } from '../router/faults.ts';
import type { RequestHead } from '../router/http1.ts';
import { HoldQueue, mustHold } from '../router/maintenance.ts';
import { ownPage } from '../router/pages.ts';
import { SlotPool } from '../router/pool.ts';
import { retryable } from '../router/retry.ts';
import type { Router } from '../router/router.ts';
import { emptyChoice, route } from '../router/routing.ts';
import { buildTable, emptySpec, type RouteTable } from '../router/table.ts';
import { type AcmeChallenges, acmeChallenges } from './acme.ts';
import { CertStore, TLS_DEFAULTS } from './certs.ts';
import { parseClientHello } from './client-hello.ts';
import { H2Exchange } from './h2.ts';
import { type H2Request, requestFromHeaders, respondPage, respondPlain } from './h2-headers.ts';
import { buildEdgeTable, type EdgeRoute, type EdgeTable, isMiss, matchRoute } from './match.ts';

/** HTTP/2 limits: what one client may hold open or send before it is refused (RFC 9113 abuse cases). */
export const H2_DEFAULTS = {
  maxConcurrentStreams: 128,
  /** Bytes of session state nghttp2 may hold per connection (MB): beyond it new streams are refused. */
  maxSessionMemory: 4,
  /** Streams a client may reset quickly (rapid reset, CVE-2023-44487) before the session is closed. */
  streamResetBurst: 200,
  streamResetRate: 50,
  maxSessionRejectedStreams: 100,
  maxSessionInvalidFrames: 100,
  maxSettings: 32,
} as const;

export interface EdgeListenerOptions {
  listen: string;
  tls: boolean;
  log: Logger;
  challenges?: AcmeChallenges;
  /** Bind with SO_REUSEPORT: the listener of one of a service's `workers` processes. */
  reusePort?: boolean;
  /** A bound socket handed over by the process that owns it (the supervisor), listened on instead of `listen`. */
  handle?: object | undefined;
}

/** A service on the listener: its router and what it claims. */
export type EdgeService = EdgeRoute<Router>;

export class EdgeListener implements ServiceSelector {
  readonly listen: string;
  readonly proto: 'http' | 'https';
  readonly certs: CertStore | null;
  private readonly log: Logger;
  private services: EdgeService[] = [];
  private table: EdgeTable<Router> = buildEdgeTable<Router>([]);
  /** Where connections wait for their first request head, under the listener's own limits. */
  private readonly lobby: ConnHost & { opts: ConnOptions };
  private readonly server: net.Server;
  private readonly h2: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly sweepTimer: NodeJS.Timeout;
  private listening = false;
  private readonly challenges: AcmeChallenges;
  private readonly reusePort: boolean;
  private readonly handle: object | undefined;

  constructor(opts: EdgeListenerOptions) {
    this.handle = opts.handle;
    this.challenges = opts.challenges ?? acmeChallenges;
    this.reusePort = opts.reusePort ?? false;
    this.listen = opts.listen;
    this.log = opts.log;
    this.proto = opts.tls ? 'https' : 'http';
    const empty: RouteTable = buildTable(emptySpec('(edge)'), new SlotPool('blue', []), new SlotPool('green', []));
    this.lobby = {
      table: empty,
      opts: {
        maxHeaderBytes: 16384,
        maxHeaders: 100,
        headersTimeout: 10_000,
        idleTimeout: 60_000,
        responseTimeout: 60_000,
        connectTimeout: 5000,
        via: false,
        previewHeader: 'x-cutover-preview',
        previewCookie: 'cutover-preview',
        stickyCookie: 'cutover-slot',
        stickyAttributes: '',
        bodyTimeout: 30_000,
      },
      conns: new Set(),
      mirror: () => {},
      isTrusted: () => false,
      upstreamFailed: () => {},
      holds: new HoldQueue(undefined),
    };
    this.h2 = http2.createServer({
      ...H2_DEFAULTS,
      settings: { maxConcurrentStreams: H2_DEFAULTS.maxConcurrentStreams, enablePush: false, maxHeaderListSize: 16384 },
      maxHeaderListPairs: 128,
    });
    this.h2.on('session', (session: http2.ServerHttp2Session) => {
      this.sessions.add(session);
      session.setTimeout(this.lobby.opts.idleTimeout, () => session.close());
      session.on('close', () => this.sessions.delete(session));
      session.on('error', () => {});
    });
    this.h2.on('stream', (stream, headers, flags) => this.onStream(stream, headers, flags));
    if (opts.tls) {
      const certs = new CertStore(opts.log.child({ listen: opts.listen }));
      this.certs = certs;
      const server = tls.createServer({
        ...TLS_DEFAULTS,
        SNICallback: certs.sniCallback,
        ALPNProtocols: ['h2', 'http/1.1'],
        handshakeTimeout: this.lobby.opts.headersTimeout,
      });
      certs.onChange = () => {
        const o = certs.defaultOptions();
        if (o !== null) server.setSecureContext(o);
      };
      server.on('secureConnection', (socket: tls.TLSSocket) => this.onConnection(socket, socket.alpnProtocol === 'h2'));
      server.on('tlsClientError', () => {});
      // TCP is accepted here and handed to the TLS server: that costs nothing, and lets a pending
      // ACME TLS-ALPN-01 challenge see the ClientHello first.
      this.server = net.createServer({ noDelay: true }, (socket) => {
        if (this.challenges.alpn.size === 0) server.emit('connection', socket);
        else this.peek(socket, server);
      });
    } else {
      this.certs = null;
      this.server = net.createServer({ noDelay: true }, (socket) => this.onConnection(socket, false));
    }
    this.server.on('error', () => {});
    this.sweepTimer = setInterval(() => this.sweep(), 250);
    this.sweepTimer.unref();
  }

  /** Adds (or replaces) a service; its claims were checked when the config was validated. */
  add(service: EdgeService): void {
    this.services = [...this.services.filter((s) => s.service !== service.service), service];
    this.rebuild();
  }

  remove(name: string): void {
    this.services = this.services.filter((s) => s.service !== name);
    this.rebuild();
  }

  get size(): number {
    return this.services.length;
  }

  private rebuild(): void {
    this.table = buildEdgeTable(this.services);
    const all = this.services.map((s) => s.value.opts);
    const o = this.lobby.opts;
    if (all.length > 0) {
      // A head is read before its service is known: the most generous limits of the services apply.
      o.maxHeaderBytes = Math.max(...all.map((x) => x.maxHeaderBytes));
      o.maxHeaders = Math.max(...all.map((x) => x.maxHeaders));
      o.headersTimeout = Math.max(...all.map((x) => x.headersTimeout));
      o.idleTimeout = Math.max(...all.map((x) => x.idleTimeout));
      o.previewHeader = all[0]?.previewHeader ?? o.previewHeader;
    }
  }

  async start(): Promise<void> {
    if (this.listening) return;
    const { host, port } = splitHostPort(this.listen);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        const names = this.services.map((s) => s.service).join(', ');
        reject(
          new CutoverError(
            'CUTOVER_E_LISTEN',
            `cannot listen on ${this.listen} (services ${names}): ${err.message}; pick a free address in \`listen\``,
            500,
            {
              cause: err,
            },
          ),
        );
      };
      this.server.once('error', onError);
      const done = (): void => {
        this.server.off('error', onError);
        resolve();
      };
      if (this.handle !== undefined) this.server.listen(this.handle, 2048, done);
      else this.server.listen({ host, port, backlog: 2048, reusePort: this.reusePort }, done);
    });
    this.listening = true;
  }

  address(): net.AddressInfo {
    return this.server.address() as net.AddressInfo;
  }

  /** While a TLS-ALPN-01 challenge is pending: the ACME server's `acme-tls/1` handshake gets the challenge certificate. */
  private peek(socket: net.Socket, server: tls.Server): void {
    let buf: Buffer = Buffer.alloc(0);
    const giveUp = setTimeout(() => socket.destroy(), this.lobby.opts.headersTimeout);
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const hello = parseClientHello(buf);
      if (hello === 'more' && buf.length < 16384 + 5) return;
      clearTimeout(giveUp);
      socket.off('data', onData);
      socket.pause();
      socket.unshift(buf);
      const ctx =
        hello !== null && hello !== 'more' && hello.alpn.includes('acme-tls/1') ? this.challenges.alpn.get(hello.servername) : undefined;
      if (ctx === undefined) {
        server.emit('connection', socket);
        return;
      }
      const t = new tls.TLSSocket(socket, { isServer: true, secureContext: ctx, ALPNProtocols: ['acme-tls/1'] });
      t.on('error', () => {});
      t.on('secure', () => t.end());
      setTimeout(() => t.destroy(), 10_000).unref();
    };
    socket.on('data', onData);
    socket.on('error', () => {});
  }

  private onConnection(socket: net.Socket, h2: boolean): void {
    if (h2) {
      this.h2.emit('connection', socket);
      return;
    }
    new ClientConn(this.lobby, socket, false, this);
  }

  /** Whether some service here takes requests for this host and path (for redirects to https). */
  serves(host: string, path: string): boolean {
    return !isMiss(matchRoute(this.table, host, path));
  }

  /** For router/conn.ts: the service of an HTTP/1.1 request. */
  select(req: RequestHead): ConnHost | { status: number; reason: string } {
    const m = matchRoute(this.table, req.host, req.target);
    if (isMiss(m)) return m;
    req.target = m.target;
    return m.route.value;
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number): void {
    stream.on('error', () => {});
    const authority = headers[':authority'] ?? headers.host ?? null;
    const path = headers[':path'];
    const m = matchRoute(this.table, typeof authority === 'string' ? authority : null, typeof path === 'string' ? path : '/');
    // The router's own answers to a HEAD request carry no body (pages.ts).
    const head = headers[':method'] === 'HEAD';
    if (isMiss(m)) return respondPlain(stream, m.status, m.reason, {}, head);
    const router = m.route.value;
    const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0 || stream.endAfterHeaders;
    const r: H2Request | string = requestFromHeaders(headers, endStream, router.opts.previewHeader);
    if (typeof r === 'string') return respondPlain(stream, 400, r, {}, head);
    r.head.target = m.target;
    const limit = router.opts.maxRequestBody;
    const pages = router.opts.pages;
    if (limit !== undefined && r.head.contentLength > limit)
      return respondPage(stream, ownPage(pages, 413, `request body larger than ${limit} bytes`), head);
    if (router.table.held && mustHold(router.table, r.head, router.opts, false)) {
      // Paused or in maintenance: the stream waits unread (flow control holds the client back) or gets the page.
      stream.pause();
      router.holds.take(
        {
          unhold: () => this.dispatch(stream, router, r),
          answerHeld: (page) => respondPage(stream, page, head),
          gone: () => stream.destroyed || stream.closed,
        },
        router.table,
        performance.now(),
      );
      return;
    }
    this.dispatch(stream, router, r);
  }

  /** A stream's request goes to the slot its service's router picks now. */
  private dispatch(stream: http2.ServerHttp2Stream, router: Router, r: H2Request): void {
    if (stream.destroyed || stream.closed) return;
    const choice = route(router.table, r.head, router.opts, false, Math.random, emptyChoice());
    const pool = choice.pool;
    if (pool === null) return respondPage(stream, ownPage(router.opts.pages, 503, choice.refusal), r.head.method === 'HEAD');
    const target = pool.pick();
    if (target === null)
      return respondPage(stream, ownPage(router.opts.pages, 503, `no healthy target in slot ${pool.slot}`), r.head.method === 'HEAD');
    const { faults, retry } = router.table;
    const fault = faults === null ? FAULT_NONE : drawFault(faults, pool, Math.random);
    const retryRule = retry !== null && retryable(retry, pool, r.head) ? retry : null;
    new H2Exchange(stream, router, pool, target, r, choice, stream.session?.socket?.remoteAddress ?? '', fault, retryRule);
  }

  private sweep(): void {
    const now = performance.now();
    for (const c of this.lobby.conns) if (c.deadline !== 0 && now >= c.deadline) c.onDeadline();
  }

  /** HTTP/1.1 connections waiting for a head and HTTP/2 sessions; services count their own exchanges. */
  connections(): number {
    return this.lobby.conns.size + this.sessions.size;
  }

  async close(grace = 0): Promise<void> {
    clearInterval(this.sweepTimer);
    this.certs?.close();
    const closed = new Promise<void>((resolve) => (this.listening ? this.server.close(() => resolve()) : resolve()));
    for (const s of this.sessions) s.close();
    const deadline = Date.now() + grace;
    while (Date.now() < deadline && this.sessions.size > 0) await new Promise((r) => setTimeout(r, 20));
    for (const s of this.sessions) s.destroy();
    for (const c of this.lobby.conns) c.destroy();
    this.listening = false;
    await closed;
  }
}
