// One HTTP/2 stream through the router: its headers become an HTTP/1.1 request on a pooled upstream
// connection of the slot the routing policy chose, and the HTTP/1.1 response becomes the stream's
// headers, data and trailers (chunked trailers pass through to clients that said `te: trailers`, as
// gRPC clients do). The slot is fixed when the stream starts: a switch moves the next stream only.
// How headers translate between the two (and the router's own answers on a stream) is h2-headers.ts.
import type http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import { isHeadError, type RequestHead, type ResponseHead } from '../router/http1.ts';
import { BODY_CHUNKED, BODY_LENGTH, BODY_NONE, BODY_UNTIL_CLOSE } from '../router/rules.ts';
import { parseResponseHead } from '../router/heads.ts';
import type { Drainable, SlotPool, Target, Upstream, UpstreamOwner } from '../router/pool.ts';
import { BodyCompressor, type CompressionOptions, compressedLines, compressionFor } from '../router/compress.ts';
import { ownPage, type PagesConfig } from '../router/pages.ts';
import { type H2Request, respondPage, responseHeaders, streamTrailers, trailerLines, upstreamHead } from './h2-headers.ts';
import { ChunkedDecoder, DECODE_ERROR, DECODE_MORE } from '../router/chunked-decoder.ts';
import { FAULT_ERROR, FAULT_NONE, INJECTED_ERROR } from '../router/faults.ts';
import { type RetryRule, retryTarget } from '../router/retry.ts';

/** What a stream needs from the service that takes it (a Router). */
export interface H2Service {
  readonly opts: {
    connectTimeout: number;
    responseTimeout: number;
    via: boolean;
    previewHeader: string;
    maxRequestBody?: number;
    /** A request body must make progress within this (ms between DATA frames), or the stream gets 408. */
    bodyTimeout: number;
    /** buffer.requests: the body is read whole (maxRequestBody bounds it) before the upstream is connected. */
    bufferRequests?: boolean;
    compression?: CompressionOptions;
    pages?: PagesConfig;
  };
  mirror(pool: SlotPool, head: string): void;
  /** Whether a peer is one of the service's trustedProxies, whose forwarding fields are appended to. */
  isTrusted(address: string): boolean;
  /** The detail of an upstream failure, for logs and diagnostics; the client gets a generic page. */
  upstreamFailed(slot: string, target: string, status: number, detail: string): void;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const MAX_RESPONSE_HEAD = 65536;
// What a client is told when an upstream fails: the kind of failure, never the upstream's address
// (that goes to upstreamFailed, for logs and diagnostics), as on HTTP/1.1 (router/conn.ts).
const BAD_RESPONSE = 'bad gateway: the upstream sent a malformed response';
const REFUSED = 'bad gateway: the upstream refused the connection';
const CLOSED_EARLY = 'bad gateway: the upstream closed the connection before answering';
const CONNECT_TIMEOUT = 'gateway timeout: the upstream did not accept the connection in time';
const RESPONSE_TIMEOUT = 'gateway timeout: the upstream did not answer within the response timeout';
const BODY_TIMEOUT = 'request body not received within the body timeout';
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export class H2Exchange implements UpstreamOwner, Drainable {
  private readonly stream: http2.ServerHttp2Stream;
  private readonly service: H2Service;
  /** The slot's pool; the standby's once a retry moved the stream there (retry.ts). */
  private pool: SlotPool;
  private readonly req: RequestHead;
  private readonly wantsTrailers: boolean;
  private readonly setCookie: string | null;
  private readonly head: string;
  private start = performance.now();
  private up: Upstream | null = null;
  /** The target asked last (for the logs when it fails). */
  private target: Target;
  private attempts = 0;
  private counting = true;
  private reqDone: boolean;
  private reqChunked: boolean;
  private reqTrailers: string | null = null;
  private resHeadBuf: Buffer | null = null;
  private res: ResponseHead | null = null;
  private resRemaining = 0;
  private decoder: ChunkedDecoder | null = null;
  private resBytes = 0;
  private upstreamBroken = false;
  private timer: NodeJS.Timeout | null = null;
  private finished = false;
  private reqBytes = 0;
  /** Reset by every DATA frame of the request; its end is a 408. */
  private bodyTimer: NodeJS.Timeout | null = null;
  /** Compressing the answer (compress.ts), or null. */
  private zip: BodyCompressor | null = null;
  private readonly acceptEncoding: string | null;
  /** buffer.requests: the request body read so far (reqBytes long), sent whole once it ended. */
  private buffered: Buffer[] | null = null;
  /** A drill's fault for this stream (faults.ts): FAULT_NONE, FAULT_ERROR or a wait in ms before the upstream is asked. */
  private fault: number;
  private faultTimer: NodeJS.Timeout | null = null;
  /** Set while this stream may still go once to the standby slot (retry.ts), else null. */
  private retry: RetryRule | null;

  constructor(
    stream: http2.ServerHttp2Stream,
    service: H2Service,
    pool: SlotPool,
    target: Target,
    request: H2Request,
    choice: { setCookie: string | null; mirror: SlotPool | null },
    remote: string,
    fault = FAULT_NONE,
    retry: RetryRule | null = null,
  ) {
    this.fault = fault;
    this.stream = stream;
    this.service = service;
    this.pool = pool;
    this.target = target;
    this.req = request.head;
    this.wantsTrailers = request.trailers;
    this.acceptEncoding = request.acceptEncoding;
    this.setCookie = choice.setCookie;
    this.reqDone = this.req.bodyMode === BODY_NONE;
    this.reqChunked = this.req.bodyMode === BODY_CHUNKED;
    // A body can be sent twice only when it is kept whole (buffer.requests); one that streams cannot.
    this.retry = this.reqDone || service.opts.bufferRequests === true ? retry : null;
    this.head = upstreamHead(this.req, remote, service.opts.via, service.isTrusted(remote));
    pool.metrics.inFlight++;
    pool.active.add(this);
    if (choice.mirror !== null) service.mirror(choice.mirror, this.head);
    stream.on('close', () => this.onStreamClose());
    stream.on('error', () => {});
    stream.on('trailers', (t: http2.IncomingHttpHeaders) => {
      this.reqTrailers = trailerLines(t);
    });
    if (!this.reqDone) {
      this.bodyTimer = setTimeout(() => this.fail(408, BODY_TIMEOUT), service.opts.bodyTimeout);
      this.bodyTimer.unref();
      stream.on('data', (chunk: Buffer) => this.onRequestData(chunk));
      stream.on('end', () => this.onRequestEnd());
      if (service.opts.bufferRequests === true) {
        // Read whole before any upstream connection is taken: a slow client holds none.
        this.buffered = [];
        stream.resume();
        return;
      }
      stream.pause();
    }
    this.begin(target);
  }

  /** The first ask of the upstream, unless a drill's fault answers the stream first or makes it wait. */
  private begin(target: Target): void {
    const fault = this.fault;
    this.fault = FAULT_NONE;
    if (fault === FAULT_ERROR) {
      if (this.retry !== null && this.retryOnStandby(500, false)) return;
      // The slot's own answer as far as analysis can tell (counted as its 500), not an upstream failure.
      this.settle(500);
      respondPage(this.stream, ownPage(undefined, 500, INJECTED_ERROR), this.req.method === 'HEAD');
      if (!this.reqDone) this.stream.once('finish', () => this.stream.close(0 /* NO_ERROR */));
      return;
    }
    if (fault === FAULT_NONE) return this.connect(target);
    this.faultTimer = setTimeout(() => {
      this.faultTimer = null;
      if (!this.finished) this.connect(target);
    }, fault);
    this.faultTimer.unref();
  }

  private connect(target: Target): void {
    this.target = target;
    this.attempts++;
    const up = target.acquire(this, performance.now(), this.service.opts.connectTimeout);
    this.up = up;
    if (up.connected) this.onUpstreamConnect(up);
  }

  onUpstreamConnect(up: Upstream): void {
    if (up !== this.up || this.finished) return;
    const body = this.buffered;
    if (body !== null) {
      // The whole buffered body with the head (again, when a refused connect moved it to another target).
      up.socket.cork();
      up.socket.write(this.head, 'latin1');
      if (this.reqChunked) {
        if (this.reqBytes > 0) up.socket.write(`${this.reqBytes.toString(16)}\r\n`, 'latin1');
        for (const b of body) up.socket.write(b);
        up.socket.write(`${this.reqBytes > 0 ? '\r\n' : ''}0\r\n${this.reqTrailers ?? ''}\r\n`, 'latin1');
      } else for (const b of body) up.socket.write(b);
      up.socket.uncork();
      this.armResponseTimer();
      return;
    }
    up.socket.write(this.head, 'latin1');
    if (this.reqDone) this.armResponseTimer();
    else this.stream.resume();
  }

  private onRequestData(chunk: Buffer): void {
    this.bodyTimer?.refresh();
    if (this.buffered !== null) {
      const limit = this.service.opts.maxRequestBody;
      if (limit !== undefined && this.reqBytes + chunk.length > limit) return this.fail(413, `request body larger than ${limit} bytes`);
      this.reqBytes += chunk.length;
      this.buffered.push(chunk);
      return;
    }
    const up = this.up;
    if (up === null || chunk.length === 0) return;
    const limit = this.service.opts.maxRequestBody;
    if (limit !== undefined && (this.reqBytes += chunk.length) > limit) return this.fail(413, `request body larger than ${limit} bytes`);
    let ok: boolean;
    if (this.reqChunked) {
      up.socket.cork();
      up.socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      up.socket.write(chunk);
      ok = up.socket.write('\r\n', 'latin1');
      up.socket.uncork();
    } else ok = up.socket.write(chunk);
    if (!ok) this.stream.pause();
  }

  private onRequestEnd(): void {
    if (this.finished) return;
    this.reqDone = true;
    this.clearBodyTimer();
    if (this.buffered !== null) return this.begin(this.target);
    const up = this.up;
    if (up !== null && this.reqChunked) up.socket.write(`0\r\n${this.reqTrailers ?? ''}\r\n`);
    this.armResponseTimer();
  }

  onUpstreamDrain(_up: Upstream): void {
    if (!this.reqDone && !this.finished) this.stream.resume();
  }

  private armResponseTimer(): void {
    if (this.res !== null || this.timer !== null) return;
    this.timer = setTimeout(
      () => this.fail(504, RESPONSE_TIMEOUT, 'no response head within the response timeout'),
      this.service.opts.responseTimeout,
    );
    this.timer.unref();
  }

  private clearBodyTimer(): void {
    if (this.bodyTimer !== null) clearTimeout(this.bodyTimer);
    this.bodyTimer = null;
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  onUpstreamData(up: Upstream, chunk: Buffer): void {
    if (up !== this.up || this.finished) return;
    this.resBytes += chunk.length;
    if (this.res === null) {
      const buf = this.resHeadBuf === null ? chunk : Buffer.concat([this.resHeadBuf, chunk]);
      this.resHeadBuf = null;
      this.readHead(buf);
    } else this.body(chunk);
  }

  private readHead(buf: Buffer): void {
    let offset = 0;
    for (;;) {
      const end = buf.indexOf(CRLFCRLF, offset);
      if (end < 0) {
        if (buf.length - offset > MAX_RESPONSE_HEAD) return this.fail(502, BAD_RESPONSE, 'response head too large');
        this.resHeadBuf = offset === 0 ? buf : buf.subarray(offset);
        return;
      }
      const res = parseResponseHead(buf.toString('latin1', offset, end + 2), this.req.method, 200);
      if (isHeadError(res)) return this.fail(502, BAD_RESPONSE, `malformed response: ${res.reason}`);
      offset = end + 4;
      if (res.status < 200) continue; // interim answers are not passed on over HTTP/2
      if (res.status >= 500 && this.retry !== null && this.retryOnStandby(res.status, false)) return;
      this.clearTimer();
      this.res = res;
      if (this.stream.destroyed) return this.finish();
      const chunkedTrailers = res.bodyMode === BODY_CHUNKED && this.wantsTrailers;
      if (chunkedTrailers || res.bodyMode === BODY_CHUNKED) this.decoder = new ChunkedDecoder();
      this.resRemaining = res.bodyMode === BODY_LENGTH ? res.contentLength : 0;
      const zipLines = chunkedTrailers ? null : this.compressor(res);
      const headers = responseHeaders(zipLines === null ? res : { ...res, forwardLines: zipLines }, this.setCookie, this.service.opts.via);
      if (res.bodyMode === BODY_NONE) {
        this.stream.respond(headers, { endStream: true });
        if (offset < buf.length) this.upstreamBroken = true;
        return this.finish();
      }
      if (chunkedTrailers) {
        this.stream.once('wantTrailers', () => {
          this.stream.sendTrailers(streamTrailers(this.decoder?.trailers ?? []));
        });
      }
      this.stream.respond(headers, { waitForTrailers: chunkedTrailers });
      if (offset < buf.length) this.body(buf.subarray(offset));
      return;
    }
  }

  private body(chunk: Buffer): void {
    const res = this.res as ResponseHead;
    let ok = true;
    let done = false;
    if (res.bodyMode === BODY_LENGTH) {
      let data = chunk;
      if (chunk.length >= this.resRemaining) {
        if (chunk.length > this.resRemaining) this.upstreamBroken = true;
        data = chunk.subarray(0, this.resRemaining);
        done = true;
      }
      this.resRemaining -= data.length;
      ok = this.send(data);
    } else if (res.bodyMode === BODY_CHUNKED) {
      const end = (this.decoder as ChunkedDecoder).feed(chunk, (d) => {
        ok = this.send(d) && ok;
      });
      if (end === DECODE_ERROR) return this.abort();
      if (end !== DECODE_MORE) {
        if (end < chunk.length) this.upstreamBroken = true;
        done = true;
      }
    } else {
      ok = this.send(chunk);
    }
    if (done) {
      this.endBody();
      this.finish();
    } else if (!ok && this.up !== null) {
      const up = this.up;
      up.socket.pause();
      this.stream.once('drain', () => {
        if (this.up === up) up.socket.resume();
      });
    }
  }

  /** compress.ts: the header lines of a compressed answer (and this.zip set), or null to send it as it is. */
  private compressor(res: ResponseHead): string | null {
    const opts = this.service.opts.compression;
    if (opts === undefined || res.bodyMode === BODY_NONE) return null;
    const length = res.bodyMode === BODY_LENGTH ? res.contentLength : -1;
    const enc = compressionFor(opts, this.acceptEncoding, this.req.method, res.status, res.contentType, length, res.forwardLines);
    if (enc === null) return null;
    this.zip = new BodyCompressor(enc, (b) => {
      if (this.stream.destroyed || this.stream.write(b) || this.up === null) return;
      const up = this.up;
      up.socket.pause();
      this.stream.once('drain', () => {
        if (this.up === up) up.socket.resume();
      });
    });
    return compressedLines(res.forwardLines, enc);
  }

  /** Body bytes to the client, through the compressor when there is one (its output minds the stream's backpressure). */
  private send(b: Buffer): boolean {
    if (this.zip === null) return this.stream.write(b);
    this.zip.write(b);
    return true;
  }

  private endBody(): void {
    const zip = this.zip;
    if (zip === null) this.stream.end();
    else zip.end(() => this.stream.end());
  }

  onUpstreamEnd(up: Upstream): void {
    if (up !== this.up) return;
    if (this.res !== null && this.res.bodyMode === BODY_UNTIL_CLOSE) {
      this.endBody();
      this.upstreamBroken = true;
      this.finish();
    }
  }

  onUpstreamClose(up: Upstream, err: Error | null): void {
    if (up !== this.up || this.finished) return;
    this.up = null;
    if (this.res === null) {
      const code = (err as (Error & { code?: string }) | null)?.code;
      if (!up.connected) {
        const next = this.pool.pick(up.target);
        if (next !== null && this.attempts < this.pool.targets.length) return this.connect(next);
        if (code === 'ETIMEDOUT') return this.fail(504, CONNECT_TIMEOUT, 'connect timeout');
        return this.fail(502, REFUSED, `refused the connection${code ? ` (${code})` : ''}`);
      }
      if (up.reused && this.resBytes === 0 && this.req.bodyMode === BODY_NONE && IDEMPOTENT.has(this.req.method) && this.attempts < 3)
        return this.connect(up.target);
      return this.fail(502, CLOSED_EARLY, `closed the connection before answering${code ? ` (${code})` : ''}`);
    }
    if (this.res.bodyMode === BODY_UNTIL_CLOSE) {
      this.endBody();
      this.finish();
    } else this.abort();
  }

  /** No answer from the upstream: answer the stream ourselves. */
  private fail(status: number, reason: string, detail = ''): void {
    if (this.finished) return;
    if (this.res === null && status >= 500 && this.retry !== null && this.retryOnStandby(status, true)) return;
    if (detail !== '') this.service.upstreamFailed(this.pool.slot, this.target.address, status, detail);
    if (this.res !== null) return this.abort();
    if (status >= 500) this.pool.metrics.upstreamErrors++;
    this.settle(status);
    respondPage(this.stream, ownPage(this.service.opts.pages, status, reason), this.req.method === 'HEAD');
    // An answer before the request ended (408, 413): once it is out, the rest of the request is refused (RFC 9113 8.1).
    if (!this.reqDone) this.stream.once('finish', () => this.stream.close(0 /* NO_ERROR */));
    this.release(false);
  }

  /**
   * retry.ts: the new slot failed this stream before the client heard anything of it; it goes once to
   * the standby slot. The failure is counted as the new slot's, so analysis still sees it. False when
   * it cannot (no healthy standby target, the budget is spent): the caller answers as usual.
   */
  private retryOnStandby(status: number, upstreamError: boolean): boolean {
    const rule = this.retry as RetryRule;
    this.retry = null;
    const target = retryTarget(rule, performance.now());
    if (target === null) return false;
    const up = this.up;
    this.up = null;
    if (up !== null) up.destroy();
    if (upstreamError) this.pool.metrics.upstreamErrors++;
    this.settle(status);
    this.pool = rule.to;
    this.start = performance.now();
    this.attempts = 0;
    this.finished = false;
    this.counting = true;
    this.resHeadBuf = null;
    this.res = null;
    this.resBytes = 0;
    this.decoder = null;
    this.upstreamBroken = false;
    this.pool.metrics.inFlight++;
    this.pool.active.add(this);
    this.connect(target);
    return true;
  }

  /** Cut after the headers went out: the client learns it from a reset stream. */
  private abort(): void {
    if (this.finished) return;
    this.pool.metrics.upstreamErrors++;
    this.settle(502);
    if (!this.stream.destroyed) this.stream.close(2 /* INTERNAL_ERROR */);
    this.release(false);
  }

  private finish(): void {
    if (this.finished) return;
    this.settle((this.res as ResponseHead).status);
    this.release(this.res?.keepAlive === true && !this.upstreamBroken && this.reqDone);
  }

  private settle(status: number): void {
    this.finished = true;
    this.clearTimer();
    if (this.faultTimer !== null) clearTimeout(this.faultTimer);
    this.faultTimer = null;
    this.clearBodyTimer();
    if (!this.counting) return;
    this.counting = false;
    if (status !== 0) this.pool.metrics.record(status, performance.now() - this.start);
    this.pool.metrics.inFlight--;
    this.pool.active.delete(this);
  }

  private release(keep: boolean): void {
    const up = this.up;
    this.up = null;
    if (up === null) return;
    if (keep) up.target.release(up, performance.now());
    else up.destroy();
  }

  private onStreamClose(): void {
    if (this.finished) return;
    // The client reset the stream (or the session went away) before the answer was complete.
    this.settle(0);
    this.release(false);
  }

  /** The drain ran out: an event stream ends between events, anything else is cancelled. */
  /** When this stream's counted exchange began, or -1 once counted (see Drainable). */
  runningSince(): number {
    return this.counting ? this.start : -1;
  }

  drainClose(): void {
    if (this.finished) return;
    const res = this.res;
    if (res !== null && this.decoder?.atBoundary() && res.contentType?.startsWith('text/event-stream')) {
      this.stream.end();
      this.settle(res.status);
      this.release(false);
      return;
    }
    this.settle(res?.status ?? 0);
    if (!this.stream.destroyed) this.stream.close(8 /* CANCEL */);
    this.release(false);
  }
}
