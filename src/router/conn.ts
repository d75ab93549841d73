// One client connection through the router: read a request head, ask the routing policy (routing.ts)
// for a slot under the route table as it is at that moment, stream the request to a pooled upstream
// connection and the response back, then wait for the next request. Upgrades become tunnels. No
// await and no timers: every deadline is a number the router's sweep checks. Per request it makes
// the few strings it reads (target, Host, the values routing needs), the upstream head and the
// response head as one string each, and one buffer when a response head and a small body are joined
// into one write. Client bytes arrive as views of the process's one client read buffer
// (client-reads.ts: what outlives a read is copied), upstream bytes as views of the upstream
// connection's own read buffer (pool.ts); the parsed heads (heads.ts reads them in place) are lent for one exchange from free
// lists, so an idle connection holds none; the exchange state is reused per connection; the routing
// decision is one object for all, and so are the socket listeners.
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { own, readShared } from './client-reads.ts';
import { CHUNKED_ERROR, CHUNKED_MORE, ChunkedTracker } from './chunked.ts';
import { drawFault, FAULT_ERROR, FAULT_NONE, FAULT_WAITING, INJECTED_ERROR } from './faults.ts';
import { type HeadError, isHeadError, parseRequestHeadStrict, type RequestHead, type ResponseHead } from './http1.ts';
import { parseResponseHead, ScannedRequest, ScannedResponse, scanRequest, scanResponse } from './heads.ts';
import { CompressedAnswer, type CompressionOptions, ZIP_ERROR, ZIP_EXTRA, ZIP_MORE } from './compress.ts';
import { forwardedFor, forwardingLines } from './forwarded.ts';
import { type Holdable, type HoldQueue, mustHold } from './maintenance.ts';
import { http1Page, ownResponse, type Page, type PagesConfig } from './pages.ts';
import type { Drainable, SlotPool, Target, Upstream, UpstreamOwner } from './pool.ts';
import { emptyChoice, type RouteChoice, route } from './routing.ts';
import { type RetryRule, retryable, retryTarget } from './retry.ts';
import { BODY_CHUNKED, BODY_LENGTH, BODY_NONE, BODY_UNTIL_CLOSE } from './rules.ts';
import type { RouteTable } from './table.ts';
import { CLOSE_GOING_AWAY_TO_CLIENT, closeGoingAwayToServer, WsFrames } from './ws.ts';

export interface ConnOptions {
  maxHeaderBytes: number;
  maxHeaders: number;
  headersTimeout: number;
  idleTimeout: number;
  responseTimeout: number;
  connectTimeout: number;
  via: boolean;
  /** Lower-case name of the preview header; it is never forwarded. */
  previewHeader: string;
  previewCookie: string;
  stickyCookie: string;
  /** Attributes of the sticky cookie (`Path=/; HttpOnly; SameSite=Lax`). */
  stickyAttributes: string;
  /** Largest request body in bytes (chunked: counted with its framing); larger gets 413. None when unset. */
  maxRequestBody?: number;
  /** A request body must make progress within this (ms between reads), or the client gets 408. */
  bodyTimeout: number;
  /** Response compression (compress.ts); off when unset. */
  compression?: CompressionOptions;
  /** buffer.requests: every request body is read whole (maxRequestBody bounds it) before the upstream is connected. */
  bufferRequests?: boolean;
  /** Error pages and the maintenance page (pages.ts); plain text when unset. */
  pages?: PagesConfig;
}

/**
 * On an edge listener (src/edge/: TLS, or services sharing one listener): picks the service for each
 * request, rewriting its target when a path prefix is stripped, or says why none takes it.
 */
export interface ServiceSelector {
  readonly proto: 'http' | 'https';
  select(req: RequestHead): ConnHost | { status: number; reason: string };
}

/** What a connection needs from its router. */
export interface ConnHost {
  table: RouteTable;
  readonly opts: ConnOptions;
  readonly conns: Set<ClientConn>;
  /** Sends a copy of a live request to the mirror slot (fire and forget). */
  mirror(pool: SlotPool, head: string): void;
  /** Whether a peer address is a trusted proxy, whose forwarding headers are appended to, not replaced. */
  isTrusted(address: string): boolean;
  /** The detail of an upstream failure, for logs and diagnostics (the client only gets a generic answer). */
  upstreamFailed(slot: string, target: string, status: number, detail: string): void;
  /** Where users' requests wait while the service is paused (maintenance.ts). */
  readonly holds: HoldQueue;
}

const ST_HEAD = 0;
const ST_EXCHANGE = 1;
const ST_TUNNEL = 2;
const ST_CLOSED = 3;

const DL_NONE = 0;
const DL_HEADERS = 1;
const DL_IDLE = 2;
const DL_RESPONSE = 3;
const DL_TUNNEL_CLOSE = 4;
/** After a refusal: a client that keeps sending is not worth waiting for. */
const DL_LINGER = 5;
const LINGER_MS = 1000;
const DL_BODY = 6;

/** Request bodies up to this size are held until they are whole (and valid) before the head goes upstream. */
export const HOLD_LIMIT = 16384;
// What a client is told when an upstream fails: the kind of failure, never the upstream's address
// or error codes (those go to upstreamFailed, for logs and diagnostics).
const BAD_RESPONSE = 'bad gateway: the upstream sent a malformed response';
const REFUSED = 'bad gateway: the upstream refused the connection';
const CLOSED_EARLY = 'bad gateway: the upstream closed the connection before answering';
const CONNECT_TIMEOUT = 'gateway timeout: the upstream did not accept the connection in time';
const RESPONSE_TIMEOUT = 'gateway timeout: the upstream did not answer within the response timeout';

const CRLFCRLF = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

/** A LF not after CR, or a CR followed by anything but LF, from `from` on. */
function bareLineEnd(buf: Buffer, from: number): boolean {
  for (let i = buf.indexOf(10, from); i >= 0; i = buf.indexOf(10, i + 1)) if (i === 0 || buf[i - 1] !== 13) return true;
  for (let i = buf.indexOf(13, from); i >= 0 && i + 1 < buf.length; i = buf.indexOf(13, i + 1)) if (buf[i + 1] !== 10) return true;
  return false;
}
const STASH_LIMIT = 65536;
/** Up to this many body bytes are copied behind a response head so both go out in one write. */
const COALESCE_LIMIT = 16384;
const MAX_RESPONSE_HEAD = 65536;
/** Whether a request's bytes start with the HEAD method: its answer has no body, whatever it refuses. */
function isHeadMethod(b: Buffer): boolean {
  return b.length >= 5 && b[0] === 72 && b[1] === 69 && b[2] === 65 && b[3] === 68 && b[4] === 32; // "HEAD "
}
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

// The fast parser's heads are lent to a connection for one exchange and given back at its end, so
// the thousands of idle keep-alive connections a router may hold keep none (a few hundred bytes each).
const freeRequests: ScannedRequest[] = [];
const freeResponses: ScannedResponse[] = [];
const MAX_FREE_HEADS = 256;
/** The routing decision, read at once by the exchange that asked for it (startExchange), so one serves all. */
const CHOICE: RouteChoice = emptyChoice();

const CONN = Symbol('cutover.conn');
type OwnedSocket = net.Socket & { [CONN]: ClientConn };
const ignore = (): void => {};
function onData(this: OwnedSocket, chunk: Buffer): void {
  this[CONN].onClientData(chunk);
}
function onSharedRead(this: net.Socket, n: number, buf: Buffer): void {
  (this as OwnedSocket)[CONN].onClientRead(n, buf);
}
/** `b` (or a copy, when it is a view of the shared client read buffer), or null. */
function keep(b: Buffer | null): Buffer | null {
  return b === null ? null : own(b);
}
function onDrain(this: OwnedSocket): void {
  this[CONN].onClientDrain();
}
function onEnd(this: OwnedSocket): void {
  this[CONN].onClientEnd();
}
function onClose(this: OwnedSocket): void {
  this[CONN].onClientClose();
}

export class ClientConn implements UpstreamOwner, Drainable, Holdable {
  /** The router of the service; on an edge listener, of the service the current request went to. */
  private host: ConnHost;
  private readonly edge: ServiceSelector | null;
  private readonly proto: string;
  private readonly socket: net.Socket;
  private readonly remote: string;
  /** The peer is a trusted proxy of the service (on an edge listener, of the request's): its forwarding headers are kept and appended to. */
  private trusted: boolean;
  /** `for=` of our own Forwarded element (IPv6 quoted, RFC 7239 6). */
  private readonly forwardedFor: string;
  /** The forwarding lines last made for a request from an untrusted peer, and the Host they were made for. */
  private forwardedLines = '';
  private forwardedHost: string | null = null;
  /** Accepted on the preview listener: every request goes to the slot in preview. */
  private readonly previewListener: boolean;
  private state = ST_HEAD;
  /** Client bytes read but not yet used (a partial head, or the next pipelined request). */
  private pending: Buffer | null = null;
  deadline = 0;
  private deadlineKind = DL_NONE;

  // The exchange in progress.
  private req: RequestHead | null = null;
  private pool: SlotPool | null = null;
  private target: Target | null = null;
  private up: Upstream | null = null;
  private upHead = '';
  /** The fast parser's heads for the exchange in progress (lent from the free lists above), or null. */
  private scan: ScannedRequest | null = null;
  private resScan: ScannedResponse | null = null;
  private start = 0;
  private reqRemaining = 0;
  private reqDone = false;
  /** Made at the first chunked request body on this connection (most never see one). */
  private reqChunks: ChunkedTracker | null = null;
  private res: ResponseHead | null = null;
  private resHeadBuf: Buffer | null = null;
  private resRemaining = 0;
  /** Made at the first chunked response on this connection. */
  private resChunks: ChunkedTracker | null = null;
  private resBytes = 0;
  private attempts = 0;
  /** Chunked request bytes so far, for maxRequestBody. */
  private reqBytes = 0;
  /** Body bytes already checked but not yet written upstream (no connection yet, or held). */
  private readonly held: Buffer[] = [];
  private heldBytes = 0;
  /** Holding a small body until it is whole before connecting upstream. */
  private holding = false;
  /** True from the start of an exchange until it is counted (settle). */
  private counting = false;
  private upstreamBroken = false;
  private clientPausedForUpstream = false;
  private clientPaused = false;

  // A tunnel (after 101 Switching Protocols).
  private wsFromClient: WsFrames | null = null;
  private wsFromUpstream: WsFrames | null = null;
  private closingTunnel = false;
  private clientClosed = false;

  private setCookie: string | null = null;
  /** Compressing this answer (compress.ts), or null. */
  private zip: CompressedAnswer | null = null;
  /** Set while this request may still go once to the standby slot (retry.ts), else null. */
  private retry: RetryRule | null = null;
  /** The request body as sent, kept while a retry may need it again. */
  private retryBody: Buffer[] | null = null;
  /** A drill's fault for this request (faults.ts): FAULT_NONE, FAULT_ERROR, FAULT_WAITING or a delay in ms. */
  private fault = FAULT_NONE;
  /** A request waiting in the hold queue (paused service), and the bytes that came after its head. */
  private heldReq: RequestHead | null = null;
  private heldRest: Buffer | null = null;

  constructor(host: ConnHost, socket: net.Socket, previewListener = false, edge: ServiceSelector | null = null) {
    this.host = host;
    this.edge = edge;
    this.proto = edge?.proto ?? 'http';
    this.socket = socket;
    this.previewListener = previewListener;
    this.remote = socket.remoteAddress ?? '';
    this.trusted = host.isTrusted(this.remote);
    this.forwardedFor = forwardedFor(this.remote);
    socket.setNoDelay(true);
    host.conns.add(this);
    this.setDeadline(DL_HEADERS, host.opts.headersTimeout);
    // Listeners shared by every connection (no closures per connection): the socket knows its conn.
    (socket as OwnedSocket)[CONN] = this;
    // Plain TCP reads into the process's one client buffer (client-reads.ts); TLS through 'data'.
    if (!readShared(socket, onSharedRead)) socket.on('data', onData);
    socket.on('drain', onDrain);
    socket.on('end', onEnd);
    socket.on('error', ignore);
    socket.on('close', onClose);
  }

  private setDeadline(kind: number, ms: number): void {
    this.deadlineKind = kind;
    this.deadline = performance.now() + ms;
  }

  private clearDeadline(): void {
    this.deadlineKind = DL_NONE;
    this.deadline = 0;
  }

  /** Called by the router's sweep when `deadline` has passed. */
  onDeadline(): void {
    const kind = this.deadlineKind;
    this.clearDeadline();
    switch (kind) {
      case DL_HEADERS:
        if (this.pending !== null && this.pending.length > 0)
          this.respondAndClose(408, 'request head not received within the headers timeout', this.pending);
        else this.socket.destroy();
        return;
      case DL_IDLE:
        this.socket.end();
        return;
      case DL_RESPONSE:
        this.failUpstream(504, RESPONSE_TIMEOUT, 'no response head within the response timeout');
        return;
      case DL_BODY:
        this.failUpstream(408, 'request body not received within the body timeout');
        return;
      case DL_TUNNEL_CLOSE:
      case DL_LINGER:
        this.destroyAll();
        return;
    }
  }

  /** True while a request or a tunnel is running on this connection. */
  busy(): boolean {
    return this.state === ST_EXCHANGE || this.state === ST_TUNNEL;
  }

  destroy(): void {
    this.destroyAll();
  }

  // ---- client side ----

  /**
   * @internal A read into the shared client buffer (client-reads.ts): `buf[0, n)` is valid only
   * until this returns, so what outlives it is copied where it is kept (`own`, `keep`); a head read
   * in place keeps strings only (heads.ts).
   */
  onClientRead(n: number, buf: Buffer): void {
    this.onClientData(buf.subarray(0, n));
  }

  /** @internal (the socket's shared listeners call it) */
  onClientData(chunk: Buffer): void {
    switch (this.state) {
      case ST_HEAD:
        this.feedHead(chunk);
        return;
      case ST_EXCHANGE:
        if (this.reqDone) this.stash(chunk);
        else {
          if (this.deadlineKind === DL_BODY) this.setDeadline(DL_BODY, this.host.opts.bodyTimeout);
          this.forwardBody(chunk);
        }
        return;
      case ST_TUNNEL:
        this.tunnelFromClient(chunk);
        return;
    }
  }

  /** Keeps bytes that arrived early (the next pipelined request); reading stops once a lot waits. */
  private stash(chunk: Buffer): void {
    this.pending = this.pending === null ? own(chunk) : Buffer.concat([this.pending, chunk]);
    if (this.pending.length > STASH_LIMIT) this.pauseClient();
  }

  private pauseClient(): void {
    if (!this.clientPaused) {
      this.clientPaused = true;
      this.socket.pause();
    }
  }

  private resumeClient(): void {
    if (this.clientPaused && !this.clientClosed) {
      this.clientPaused = false;
      this.socket.resume();
    }
  }

  private feedHead(chunk: Buffer): void {
    let buf: Buffer;
    let from = 0;
    if (this.pending === null) {
      buf = chunk;
      if (this.deadlineKind === DL_IDLE) this.setDeadline(DL_HEADERS, this.host.opts.headersTimeout);
    } else {
      from = Math.max(0, this.pending.length - 3);
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    // Tolerate the empty lines some clients send between requests (RFC 9112 2.2).
    let skip = 0;
    while (skip + 1 < buf.length && buf[skip] === 13 && buf[skip + 1] === 10) skip += 2;
    if (skip > 0) {
      buf = buf.subarray(skip);
      from = 0;
    }
    const end = buf.indexOf(CRLFCRLF, from);
    const max = this.host.opts.maxHeaderBytes;
    if (end < 0) {
      if (buf.length > max) return this.respondAndClose(431, 'request head larger than the limit', buf);
      // A head that can never end in CRLFCRLF is refused now, not at the headers timeout: this router
      // does not accept bare LF (or bare CR) as a line ending (RFC 9112 2.2 allows either choice).
      if (bareLineEnd(buf, from)) return this.respondAndClose(400, 'bare LF or CR in the request head: lines end with CRLF', buf);
      this.pending = own(buf);
      return;
    }
    if (end + 4 > max) return this.respondAndClose(431, 'request head larger than the limit', buf);
    const rest = end + 4 < buf.length ? buf.subarray(end + 4) : null;
    const opts = this.host.opts;
    const scan = this.scan ?? (this.scan = freeRequests.pop() ?? new ScannedRequest());
    if (scanRequest(buf, 0, end + 2, opts.maxHeaders, opts.previewHeader, scan)) return this.startExchange(scan, rest);
    // Anything unusual: the strict parser decides, and says why when it refuses.
    const head = parseRequestHeadStrict(buf.toString('latin1', 0, end), opts.maxHeaders, opts.previewHeader);
    if (isHeadError(head)) return this.respondAndClose(head.status, head.reason, buf);
    this.startExchange(head, rest);
  }

  private startExchange(req: RequestHead, rest: Buffer | null, admitted = false): void {
    this.clearDeadline();
    if (!admitted) {
      if (this.edge !== null && !this.selectService(req, rest)) return;
      if (this.host.table.held && mustHold(this.host.table, req, this.host.opts, this.previewListener)) return this.hold(req, rest);
    }
    const limit = this.host.opts.maxRequestBody;
    if (limit !== undefined && req.contentLength > limit) {
      this.pending = keep(rest);
      return this.respondLocal(req, 413, `request body larger than ${limit} bytes`);
    }
    this.reqBytes = 0;
    const table = this.host.table;
    const choice = route(table, req, this.host.opts, this.previewListener, Math.random, CHOICE);
    this.setCookie = choice.setCookie;
    const pool = choice.pool;
    if (pool === null) {
      this.pending = keep(rest);
      return this.respondLocal(req, 503, choice.refusal);
    }
    const target = pool.pick();
    if (target === null) {
      this.pending = keep(rest);
      return this.respondLocal(req, 503, `no healthy target in slot ${pool.slot}`);
    }
    this.state = ST_EXCHANGE;
    this.req = req;
    this.pool = pool;
    this.start = performance.now();
    this.attempts = 0;
    this.reqDone = req.bodyMode === BODY_NONE;
    this.reqRemaining = req.bodyMode === BODY_LENGTH ? req.contentLength : 0;
    this.reqChunks?.reset();
    this.res = null;
    this.resHeadBuf = null;
    this.resBytes = 0;
    this.upstreamBroken = false;
    this.clientPausedForUpstream = false;
    this.pending = null;
    this.held.length = 0;
    this.heldBytes = 0;
    this.target = target;
    pool.metrics.inFlight++;
    pool.active.add(this);
    this.counting = true;
    this.retry = table.retry !== null && retryable(table.retry, pool, req) ? table.retry : null;
    this.retryBody = null;
    this.fault = table.faults === null ? FAULT_NONE : drawFault(table.faults, pool, Math.random);
    this.upHead = this.buildUpstreamHead(req);
    if (choice.mirror !== null) this.host.mirror(choice.mirror, this.upHead);
    if (this.reqDone) {
      this.pending = keep(rest);
      this.connect(target);
      return;
    }
    // A body is held until it is whole when it is small, so a malformed one is refused before the
    // upstream sees its head; a client waiting for 100 Continue gets its head sent at once. With
    // buffer.requests every body is held whole (maxRequestBody bounds it) before connecting, so a
    // slow client holds no upstream connection; its 100 Continue comes from us.
    const buffer = this.host.opts.bufferRequests === true;
    this.holding = buffer || (!req.expectContinue && (req.bodyMode !== BODY_LENGTH || req.contentLength <= HOLD_LIMIT));
    if (buffer && req.expectContinue && req.minor === 1) this.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
    this.setDeadline(DL_BODY, this.host.opts.bodyTimeout);
    if (rest !== null) this.forwardBody(rest);
    if (this.state === ST_EXCHANGE && this.up === null && (!this.holding || this.reqDone)) {
      this.holding = false;
      this.connect(target);
    }
  }

  /** The service is paused or in maintenance: the request waits (reading stops) or gets its page. */
  private hold(req: RequestHead, rest: Buffer | null): void {
    this.heldReq = req;
    this.heldRest = keep(rest);
    this.pauseClient();
    this.host.holds.take(this, this.host.table, performance.now());
  }

  unhold(): void {
    const req = this.heldReq;
    if (req === null || this.state === ST_CLOSED) return;
    const rest = this.heldRest;
    this.heldReq = null;
    this.heldRest = null;
    this.resumeClient();
    this.startExchange(req, rest, true);
  }

  answerHeld(page: Page): void {
    const req = this.heldReq;
    if (req === null || this.state === ST_CLOSED) return;
    this.pending = this.heldRest;
    this.heldReq = null;
    this.heldRest = null;
    const keep = req.keepAlive && req.bodyMode === BODY_NONE;
    this.socket.write(http1Page(page, !keep, req.method === 'HEAD'), 'latin1');
    this.nextRequest(keep);
  }

  gone(): boolean {
    return this.state === ST_CLOSED;
  }

  /** Moves this connection to the service the request is for; false after answering it ourselves. */
  private selectService(req: RequestHead, rest: Buffer | null): boolean {
    const to = (this.edge as ServiceSelector).select(req);
    if ('status' in to) {
      this.pending = keep(rest);
      this.respondLocal(req, to.status, to.reason);
      return false;
    }
    if (to !== this.host) {
      this.host.conns.delete(this);
      this.host = to;
      to.conns.add(this);
      this.trusted = to.isTrusted(this.remote);
    }
    return true;
  }

  /**
   * Counts the end of the exchange in progress, once: `status` and its latency (0 when the client
   * left before an answer: not a request anyone saw answered), and whether the upstream failed.
   * A tunnel stays in its pool's active set, so a drain can still close it.
   */
  private settle(status: number, upstreamError: boolean, stillActive: boolean): void {
    if (!this.counting) return;
    this.counting = false;
    const m = (this.pool as SlotPool).metrics;
    if (upstreamError) m.upstreamErrors++;
    if (status !== 0) m.record(status, performance.now() - this.start);
    m.inFlight--;
    if (!stillActive) (this.pool as SlotPool).active.delete(this);
  }

  private buildUpstreamHead(req: RequestHead): string {
    // A head read in place goes on as one slice of the client's bytes (minus the lines it drops).
    let head =
      req === this.scan ? (req as ScannedRequest).forwardText() : `${req.method} ${req.target} HTTP/1.${req.minor}\r\n${req.forwardLines}`;
    head += this.forwarding(req);
    if (req.bodyMode === BODY_CHUNKED) head += `transfer-encoding: ${req.transferEncoding}\r\n`;
    else if (req.contentLength >= 0) head += `content-length: ${req.contentLength}\r\n`;
    if (req.upgrade !== null) head += `connection: upgrade\r\nupgrade: ${req.upgrade}\r\n`;
    else if (req.minor === 0) head += 'connection: close\r\n';
    if (this.host.opts.via) head += `via: 1.${req.minor} cutover\r\n`;
    return `${head}\r\n`;
  }

  /**
   * The forwarding lines for `req`. From a peer that is not a trusted proxy they depend only on the
   * connection and the Host, so the last ones are kept and reused while the Host stays the same.
   */
  private forwarding(req: RequestHead): string {
    if (this.trusted) return forwardingLines(req, this.remote, this.forwardedFor, this.proto, true);
    if (req.host !== this.forwardedHost || this.forwardedLines === '') {
      this.forwardedLines = forwardingLines(req, this.remote, this.forwardedFor, this.proto, false);
      this.forwardedHost = req.host;
    }
    return this.forwardedLines;
  }

  private connect(target: Target): void {
    if (this.fault !== FAULT_NONE) return this.injectFault(target);
    this.target = target;
    this.attempts++;
    const up = target.acquire(this, performance.now(), this.host.opts.connectTimeout);
    this.up = up;
    if (up.connected) this.onUpstreamConnect(up);
  }

  onUpstreamConnect(up: Upstream): void {
    if (up !== this.up || this.state !== ST_EXCHANGE) return;
    const sock = up.socket;
    let ok: boolean;
    if (this.heldBytes === 0) {
      ok = sock.write(this.upHead, 'latin1');
    } else {
      // Head and the body so far in one write (cork turns the writes into one writev).
      sock.cork();
      sock.write(this.upHead, 'latin1');
      for (const b of this.held) sock.write(b);
      ok = sock.write(EMPTY);
      sock.uncork();
      if (this.retry !== null) this.retryBody = this.held.slice();
      this.held.length = 0;
      this.heldBytes = 0;
    }
    if (this.reqDone) this.onRequestSent();
    else if (!ok) {
      this.retry = null; // a body still streaming cannot be sent twice
      this.clientPausedForUpstream = true;
      this.pauseClient();
    } else {
      this.retry = null;
      if (!this.clientPausedForUpstream) this.resumeClient();
    }
  }

  /**
   * Checks request body bytes as they arrive and passes them on (or holds them while there is no
   * upstream connection yet); what follows the body is the next request, kept for later.
   */
  private forwardBody(chunk: Buffer): void {
    let used = chunk.length;
    const req = this.req as RequestHead;
    let out = chunk;
    let tail: Buffer | null = null;
    if (req.bodyMode === BODY_LENGTH) {
      if (chunk.length >= this.reqRemaining) {
        used = this.reqRemaining;
        this.reqRemaining = 0;
        this.reqDone = true;
        if (used < chunk.length) out = chunk.subarray(0, used);
      } else {
        this.reqRemaining -= chunk.length;
      }
    } else {
      const t = (this.reqChunks ??= new ChunkedTracker());
      const end = t.feed(chunk, 0);
      if (end === CHUNKED_ERROR) return this.failUpstream(400, 'malformed chunked request body');
      const limit = this.host.opts.maxRequestBody;
      if (limit !== undefined && (this.reqBytes += chunk.length) > limit)
        return this.failUpstream(413, `request body larger than ${limit} bytes`);
      if (end !== CHUNKED_MORE) {
        used = end;
        this.reqDone = true;
        // The trailer section goes out as the tracker re-emitted it (forbidden fields dropped).
        tail = Buffer.from(t.trailerSection());
      }
      if (t.holdFrom >= 0) out = chunk.subarray(0, t.holdFrom);
      else if (used < chunk.length) out = chunk.subarray(0, used);
    }
    if (used < chunk.length) this.stash(chunk.subarray(used));
    if (this.reqDone && this.deadlineKind === DL_BODY) this.clearDeadline();
    const up = this.up;
    if (up === null || !up.connected) {
      if (out.length > 0) this.held.push(own(out));
      if (tail !== null) this.held.push(tail);
      this.heldBytes += out.length + (tail === null ? 0 : tail.length);
      if (this.holding && (this.reqDone || (this.heldBytes > HOLD_LIMIT && this.host.opts.bufferRequests !== true))) {
        // Whole (or too large to hold): now the upstream gets the head and what we have.
        this.holding = false;
        this.connect(this.target as Target);
      } else if (!this.holding && this.heldBytes > STASH_LIMIT) this.pauseClient();
      return;
    }
    let ok = out.length === 0 || up.socket.write(own(out));
    if (tail !== null) ok = up.socket.write(tail);
    if (this.reqDone) {
      this.onRequestSent();
    } else if (!ok) {
      this.clientPausedForUpstream = true;
      this.pauseClient();
    }
  }

  private onRequestSent(): void {
    if (this.state === ST_EXCHANGE && this.res === null && this.deadlineKind !== DL_RESPONSE) {
      this.setDeadline(DL_RESPONSE, this.host.opts.responseTimeout);
    }
  }

  onUpstreamDrain(_up: Upstream): void {
    if (this.state === ST_TUNNEL) {
      this.resumeClient();
      return;
    }
    if (this.clientPausedForUpstream) {
      this.clientPausedForUpstream = false;
      if (this.state === ST_EXCHANGE && !this.reqDone) this.resumeClient();
    }
  }

  /** @internal (the socket's shared listeners call it) */
  onClientDrain(): void {
    const up = this.up;
    if (up !== null && !up.closed) up.socket.resume();
  }

  /** @internal (the socket's shared listeners call it) */
  onClientEnd(): void {
    // A client that half-closes while waiting for its answer still gets it; otherwise we close too.
    if (this.state === ST_EXCHANGE && this.reqDone) return;
    if (this.state === ST_TUNNEL) {
      if (this.up !== null) this.up.socket.end();
      return;
    }
    this.socket.end();
  }

  /** @internal (the socket's shared listeners call it) */
  onClientClose(): void {
    this.clientClosed = true;
    this.state = ST_CLOSED;
    this.host.conns.delete(this);
    this.settle(0, false, false);
    if (this.pool !== null) this.pool.active.delete(this);
    this.dropZip();
    const up = this.up;
    this.up = null;
    if (up !== null) up.destroy();
  }

  /** A compressed answer cut short (client gone, upstream broken): its compressor is freed at once. */
  private dropZip(): void {
    const zip = this.zip;
    this.zip = null;
    zip?.destroy();
  }

  // ---- upstream side ----

  /** Upstream reads arrive as views of the connection's read buffer (pool.ts): what outlives this call is copied or kept. */
  readonly borrowsReads = true;

  onUpstreamData(up: Upstream, chunk: Buffer): void {
    if (up !== this.up) return;
    if (this.state === ST_TUNNEL) this.tunnelFromUpstream(chunk);
    else {
      this.resBytes += chunk.length;
      if (this.res === null) {
        const buf = this.resHeadBuf === null ? chunk : Buffer.concat([this.resHeadBuf, chunk]);
        this.resHeadBuf = null;
        this.readResponseHead(buf);
        // A partial head waits for more (in a copy); a head read in place keeps strings only.
        if (this.resHeadBuf !== null) this.resHeadBuf = Buffer.from(this.resHeadBuf);
      } else {
        this.forwardResponseBody(chunk);
      }
    }
    // A write the kernel did not take at once, or the compressor, still holds the bytes.
    if (this.socket.writableLength > 0 || this.zip !== null) up.keepRead();
  }

  private readResponseHead(buf: Buffer): void {
    let offset = 0;
    for (;;) {
      const end = buf.indexOf(CRLFCRLF, offset);
      if (end < 0) {
        if (buf.length - offset > MAX_RESPONSE_HEAD) return this.failUpstream(502, BAD_RESPONSE, 'response head too large');
        this.resHeadBuf = offset === 0 ? buf : buf.subarray(offset);
        return;
      }
      const req = this.req as RequestHead;
      const scan = this.resScan ?? (this.resScan = freeResponses.pop() ?? new ScannedResponse());
      let res: ResponseHead | HeadError = scan;
      // Final answers are read in place; interim ones and anything unusual take the string parsers.
      if (!scanResponse(buf, offset, end + 2, req.method, 200, scan))
        res = parseResponseHead(buf.toString('latin1', offset, end + 2), req.method, 200);
      if (isHeadError(res)) return this.failUpstream(502, BAD_RESPONSE, `malformed response: ${res.reason}`);
      offset = end + 4;
      if (res.status === 101) {
        if (req.upgrade === null) return this.failUpstream(502, BAD_RESPONSE, 'switched protocols unasked');
        return this.startTunnel(res, offset < buf.length ? buf.subarray(offset) : null);
      }
      if (res.status < 200) {
        // Interim answers (100 Continue, 103 Early Hints) go to HTTP/1.1 clients as they are.
        if (req.minor === 1) this.socket.write(`${res.statusLine}\r\n${res.forwardLines}\r\n`, 'latin1');
        this.retry = null; // the client has heard from this answer
        continue;
      }
      if (res.status >= 500 && this.retry !== null && this.retryOnStandby(res.status, false)) return;
      this.clearDeadline();
      this.res = res;
      const compression = this.host.opts.compression;
      const zip =
        compression !== undefined && (res.bodyMode === BODY_LENGTH || res.bodyMode === BODY_CHUNKED)
          ? CompressedAnswer.start(compression, req, res, (b) => this.sendCompressed(b))
          : null;
      this.zip = zip;
      const closeClient = !req.keepAlive || !this.reqDone || res.bodyMode === BODY_UNTIL_CLOSE || (zip !== null && req.minor === 0);
      let head = zip === null && res === scan ? scan.headText() : `${res.statusLine}\r\n${zip === null ? res.forwardLines : zip.lines}`;
      if (closeClient) head += 'connection: close\r\n';
      if (this.setCookie !== null) head += this.setCookie;
      if (this.host.opts.via) head += `via: 1.${res.minor} cutover\r\n`;
      head += '\r\n';
      this.resRemaining = res.bodyMode === BODY_LENGTH ? res.contentLength : 0;
      this.resChunks?.reset();
      if (res.bodyMode === BODY_NONE) {
        if (offset < buf.length) this.upstreamBroken = true; // bytes after a bodiless response
        this.socket.write(head, 'latin1');
        this.finishExchange();
        return;
      }
      if (offset < buf.length) this.forwardResponseBody(offset === 0 ? buf : buf.subarray(offset), head);
      else this.socket.write(head, 'latin1');
      return;
    }
  }

  /** The compressor's output to the client; the upstream waits while the client's socket is full. */
  private sendCompressed(b: Buffer): void {
    if (this.state === ST_EXCHANGE && !this.socket.write(b) && this.up !== null) this.up.socket.pause();
  }

  /** A compressed answer's identity body bytes from upstream; at its end the upstream is let go, the client's answer ends once flushed. */
  private zipBody(zip: CompressedAnswer, chunk: Buffer, head: string | null): void {
    if (head !== null) this.socket.write(head, 'latin1');
    if (zip.ending) {
      this.upstreamBroken = true; // bytes after the body, while the compressor flushes
      return;
    }
    const end = zip.feed(chunk);
    if (end === ZIP_ERROR) return this.abortMidResponse();
    if (end === ZIP_MORE) return;
    if (end === ZIP_EXTRA) this.upstreamBroken = true;
    const res = this.res as ResponseHead;
    this.releaseUpstream(res);
    zip.end(() => {
      if (this.state !== ST_EXCHANGE || this.res !== res) return;
      this.zip = null;
      this.finishExchange();
    });
  }

  /** Passes response body bytes on; `head`, when given, goes out first in the same write. */
  private forwardResponseBody(chunk: Buffer, head: string | null = null): void {
    if (this.zip !== null) return this.zipBody(this.zip, chunk, head);
    const res = this.res as ResponseHead;
    let used = chunk.length;
    let done = false;
    let tail: Buffer | null = null;
    if (res.bodyMode === BODY_LENGTH) {
      if (chunk.length >= this.resRemaining) {
        if (chunk.length > this.resRemaining) this.upstreamBroken = true;
        used = this.resRemaining;
        this.resRemaining = 0;
        done = true;
      } else {
        this.resRemaining -= chunk.length;
      }
    } else if (res.bodyMode === BODY_CHUNKED) {
      const t = (this.resChunks ??= new ChunkedTracker());
      const end = t.feed(chunk, 0);
      if (end === CHUNKED_ERROR) return this.abortMidResponse();
      if (end !== CHUNKED_MORE) {
        if (end < chunk.length) this.upstreamBroken = true;
        used = end;
        done = true;
      }
      if (t.holdFrom >= 0) {
        // The trailer section is held, and goes out re-emitted (forbidden fields dropped) at the end.
        used = t.holdFrom;
        if (done) tail = Buffer.from(t.trailerSection());
      }
    }
    const body = used === chunk.length ? chunk : chunk.subarray(0, used);
    let ok: boolean;
    if (tail !== null) {
      this.socket.cork();
      if (head !== null) this.socket.write(head, 'latin1');
      this.socket.write(body);
      ok = this.socket.write(tail);
      this.socket.uncork();
    } else if (head === null) {
      ok = this.socket.write(body);
    } else if (body.length <= COALESCE_LIMIT) {
      // One buffer, one write: cheaper than a corked writev of head and body.
      const out = Buffer.allocUnsafe(head.length + body.length);
      out.write(head, 0, 'latin1');
      body.copy(out, head.length);
      ok = this.socket.write(out);
    } else {
      this.socket.cork();
      this.socket.write(head, 'latin1');
      ok = this.socket.write(body);
      this.socket.uncork();
    }
    if (done) {
      // An answer that ends before its request did closes both connections (finishExchange sees !reqDone).
      this.finishExchange();
    } else if (!ok && this.up !== null) {
      this.up.socket.pause();
    }
  }

  onUpstreamEnd(up: Upstream): void {
    if (up !== this.up) return;
    if (this.state === ST_TUNNEL) {
      this.socket.end();
      return;
    }
    if (this.res !== null && this.res.bodyMode === BODY_UNTIL_CLOSE) this.finishExchange();
    // Otherwise 'close' follows and decides.
  }

  onUpstreamClose(up: Upstream, err: Error | null): void {
    if (up !== this.up) return;
    this.up = null;
    if (this.state === ST_TUNNEL) {
      if (!this.clientClosed) this.socket.end();
      return;
    }
    if (this.state !== ST_EXCHANGE) return;
    const req = this.req as RequestHead;
    if (this.res === null) {
      const code = (err as (Error & { code?: string }) | null)?.code;
      if (!up.connected) {
        // Nothing was sent: another healthy target of the same slot may take it.
        const next = (this.pool as SlotPool).pick(up.target);
        if (next !== null && this.attempts < (this.pool as SlotPool).targets.length) return this.connect(next);
        if (code === 'ETIMEDOUT') return this.failUpstream(504, CONNECT_TIMEOUT, 'connect timeout');
        return this.failUpstream(502, REFUSED, `refused the connection${code ? ` (${code})` : ''}`);
      }
      if (up.reused && this.resBytes === 0 && req.bodyMode === BODY_NONE && IDEMPOTENT.has(req.method) && this.attempts < 3) {
        // The keep-alive race: the upstream closed an idle connection as we reused it. Safe to send again.
        return this.connect(up.target);
      }
      return this.failUpstream(502, CLOSED_EARLY, `closed the connection before answering${code ? ` (${code})` : ''}`);
    }
    // A complete response has already let go of its upstream; this one was cut short.
    if (this.res.bodyMode === BODY_UNTIL_CLOSE) this.finishExchange();
    else this.abortMidResponse();
  }

  /** The request could not be answered by the upstream: answer it ourselves, keep the counts honest. */
  private failUpstream(status: number, reason: string, detail = ''): void {
    if (this.res === null && status >= 500 && this.retry !== null && this.retryOnStandby(status, true)) return;
    if (detail !== '') this.host.upstreamFailed((this.pool as SlotPool).slot, this.target?.address ?? '', status, detail);
    const up = this.up;
    this.up = null;
    if (up !== null) up.destroy();
    // Once the head went out the only honest signal left is a cut connection (counted there, once).
    if (this.res !== null) return this.abortMidResponse();
    this.settle(status, status >= 500, false);
    this.state = ST_CLOSED;
    this.socket.end(ownResponse(this.host.opts.pages, status, reason, true, this.req?.method === 'HEAD'), 'latin1');
  }

  /**
   * retry.ts: the new slot failed this request before the client heard anything of it; it goes once
   * to the standby slot. The failure is counted as the new slot's, so analysis still sees it. False
   * when it cannot (no healthy standby target, the budget is spent): the caller answers as usual.
   */
  private retryOnStandby(status: number, upstreamError: boolean): boolean {
    const rule = this.retry as RetryRule;
    this.retry = null;
    const target = retryTarget(rule, performance.now());
    if (target === null) return false;
    const up = this.up;
    this.up = null;
    if (up !== null) up.destroy();
    this.settle(status, upstreamError, false);
    const pool = rule.to;
    this.pool = pool;
    this.start = performance.now();
    this.attempts = 0;
    this.resHeadBuf = null;
    this.resBytes = 0;
    this.upstreamBroken = false;
    pool.metrics.inFlight++;
    pool.active.add(this);
    this.counting = true;
    const body = this.retryBody;
    this.retryBody = null;
    if (body !== null) {
      for (const b of body) this.held.push(b);
      this.heldBytes = body.reduce((n, b) => n + b.length, 0);
    }
    this.clearDeadline();
    this.connect(target);
    return true;
  }

  /** faults.ts: a drill's fault before the upstream is asked: a 500 as the slot's own answer, or a wait. */
  private injectFault(target: Target): void {
    const fault = this.fault;
    if (fault === FAULT_WAITING) return;
    if (fault === FAULT_ERROR) {
      this.fault = FAULT_NONE;
      if (this.retry !== null && this.reqDone && this.retryOnStandby(500, false)) return;
      this.settle(500, false, false);
      const req = this.req as RequestHead;
      if (!this.reqDone || !req.keepAlive) {
        this.state = ST_CLOSED;
        this.socket.end(ownResponse(undefined, 500, INJECTED_ERROR, true, req.method === 'HEAD'), 'latin1');
        return;
      }
      this.held.length = 0;
      this.heldBytes = 0;
      this.req = null;
      this.socket.write(ownResponse(undefined, 500, INJECTED_ERROR, false, req.method === 'HEAD'), 'latin1');
      this.nextRequest(true);
      return;
    }
    this.fault = FAULT_WAITING;
    const req = this.req;
    // The only timer on the request path, and only during a drill: the sweep is too coarse for it.
    setTimeout(() => {
      if (this.req !== req || this.state !== ST_EXCHANGE || this.fault !== FAULT_WAITING) return;
      this.fault = FAULT_NONE;
      this.connect(target);
    }, fault).unref();
  }

  /** The response was cut after its head went out: the client can only learn it from a closed connection. */
  private abortMidResponse(): void {
    this.settle(502, true, false);
    this.state = ST_CLOSED;
    this.destroyAll();
  }

  /** After a complete answer: the upstream connection goes back to its pool when it can carry another. */
  private releaseUpstream(res: ResponseHead): void {
    const up = this.up;
    this.up = null;
    if (up === null) return;
    if (res.keepAlive && !this.upstreamBroken && this.reqDone && (this.req as RequestHead).minor === 1)
      up.target.release(up, performance.now());
    else up.destroy();
  }

  private finishExchange(): void {
    const res = this.res as ResponseHead;
    const req = this.req as RequestHead;
    this.settle(res.status, false, false);
    this.releaseUpstream(res);
    this.req = null;
    this.res = null;
    const keep = req.keepAlive && this.reqDone && res.bodyMode !== BODY_UNTIL_CLOSE;
    this.endExchange();
    this.nextRequest(keep);
  }

  /** Lets go of what the exchange held, so an idle connection keeps no buffers and no parsed heads. */
  private endExchange(): void {
    this.upHead = '';
    const scan = this.scan;
    if (scan !== null) {
      scan.release();
      this.scan = null;
      if (freeRequests.length < MAX_FREE_HEADS) freeRequests.push(scan);
    }
    const resScan = this.resScan;
    if (resScan !== null) {
      resScan.release();
      this.resScan = null;
      if (freeResponses.length < MAX_FREE_HEADS) freeResponses.push(resScan);
    }
  }

  /** After an answer: close, or wait for the next request (which may already be here, pipelined). */
  private nextRequest(keep: boolean): void {
    if (!keep) {
      this.state = ST_CLOSED;
      this.socket.end();
      return;
    }
    this.state = ST_HEAD;
    this.setDeadline(DL_IDLE, this.host.opts.idleTimeout);
    const next = this.pending;
    this.pending = null;
    if (next !== null && next.length > 0) this.feedHead(next);
    if (this.state === ST_HEAD) this.resumeClient();
  }

  /** An answer of the router's own to a request that reached no upstream. */
  private respondLocal(req: RequestHead, status: number, reason: string): void {
    // Keep the connection only when no request body is left unread.
    const keep = req.keepAlive && req.bodyMode === BODY_NONE;
    this.socket.write(ownResponse(this.host.opts.pages, status, reason, !keep, req.method === 'HEAD'), 'latin1');
    this.endExchange();
    this.nextRequest(keep);
  }

  /** A refusal before the head was read whole; `head`: the bytes so far, whose method may be HEAD (then no body). */
  private respondAndClose(status: number, reason: string, head: Buffer | null = null): void {
    this.state = ST_CLOSED;
    this.pending = null;
    this.setDeadline(DL_LINGER, LINGER_MS);
    this.socket.end(ownResponse(this.host.opts.pages, status, reason, true, head !== null && isHeadMethod(head)), 'latin1');
  }

  private destroyAll(): void {
    this.dropZip();
    const up = this.up;
    this.up = null;
    if (up !== null) up.destroy();
    this.socket.destroy();
  }

  // ---- tunnels (WebSocket and other upgrades) ----

  private startTunnel(res: ResponseHead, rest: Buffer | null): void {
    this.clearDeadline();
    const req = this.req as RequestHead;
    this.settle(101, false, true);
    this.state = ST_TUNNEL;
    if (req.upgrade !== null && req.upgrade.toLowerCase() === 'websocket') {
      this.wsFromClient = new WsFrames();
      this.wsFromUpstream = new WsFrames();
    }
    this.socket.write(`${res.statusLine}\r\n${res.forwardLines}connection: upgrade\r\n\r\n`, 'latin1');
    if (rest !== null) this.tunnelFromUpstream(rest);
    const early = this.pending;
    this.pending = null;
    if (early !== null) this.tunnelFromClient(early);
    this.resumeClient();
  }

  private tunnelFromClient(chunk: Buffer): void {
    const up = this.up;
    if (up === null) return;
    if (this.closingTunnel) {
      // After our close frame went upstream, the client's bytes are its close reply: done.
      this.destroyAll();
      return;
    }
    this.wsFromClient?.feed(chunk, false);
    if (!up.socket.write(own(chunk))) this.pauseClient();
  }

  private tunnelFromUpstream(chunk: Buffer): void {
    const frames = this.wsFromUpstream;
    if (this.closingTunnel) {
      if (frames === null) return;
      // Forward to the end of the frame in progress, then the close frame.
      const at = frames.feed(chunk, true);
      if (at < 0) {
        this.socket.write(chunk);
        return;
      }
      if (at > 0) this.socket.write(chunk.subarray(0, at));
      this.sendCloseToClient();
      return;
    }
    frames?.feed(chunk, false);
    if (!this.socket.write(chunk) && this.up !== null) this.up.socket.pause();
  }

  private closeSentToClient = false;

  private sendCloseToClient(): void {
    if (this.closeSentToClient) return;
    this.closeSentToClient = true;
    this.socket.write(CLOSE_GOING_AWAY_TO_CLIENT);
    this.setDeadline(DL_TUNNEL_CLOSE, 1000);
  }

  /** When the exchange being counted began (performance.now()), or -1: none, or a tunnel. */
  runningSince(): number {
    return this.counting ? this.start : -1;
  }

  /** The drain ran out: end what is still running on the old slot, cleanly where the protocol allows. */
  drainClose(): void {
    if (this.state === ST_TUNNEL) {
      if (this.wsFromClient === null || this.wsFromUpstream === null) return this.destroyAll();
      this.closingTunnel = true;
      if (this.wsFromClient.atBoundary() && this.up !== null) this.up.socket.write(closeGoingAwayToServer());
      if (this.wsFromUpstream.atBoundary()) this.sendCloseToClient();
      else this.setDeadline(DL_TUNNEL_CLOSE, 1000);
      return;
    }
    if (this.state !== ST_EXCHANGE) return;
    const res = this.res;
    if (
      res !== null &&
      res.bodyMode === BODY_CHUNKED &&
      this.resChunks?.atBoundary() === true &&
      res.contentType?.startsWith('text/event-stream')
    ) {
      // An event stream ends cleanly between events; the browser reconnects to the live slot.
      this.settle(res.status, false, false);
      this.state = ST_CLOSED;
      this.socket.end('0\r\n\r\n');
      const up = this.up;
      this.up = null;
      if (up !== null) up.destroy();
      return;
    }
    this.abortMidResponse();
  }
}
