// The header side of an HTTP/2 stream through the router: a stream's headers checked and turned into
// an HTTP/1.1 request head (the preview token, forwarding fields and framing headers taken out), the
// head sent upstream, an HTTP/1.1 response head as HTTP/2 headers, and the router's own answers on a
// stream. h2.ts moves the bytes of the exchange.
import type http2 from 'node:http2';
import type { RequestHead, ResponseHead } from '../router/http1.ts';
import { BODY_CHUNKED, BODY_LENGTH, BODY_NONE } from '../router/rules.ts';
import { forwardedFor, forwardingLines } from '../router/forwarded.ts';
import { h2PageHeaders, type Page } from '../router/pages.ts';

/** Headers an HTTP/2 request may not carry on to HTTP/1.1, or that the router sets itself. */
const DROPPED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'host',
  'content-length',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-real-ip',
  'forwarded',
]);
/** Response headers that are HTTP/1.1 framing, not content (RFC 9113 8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const BAD_TARGET = /[\x00-\x20\x7f]/;
export interface H2Request {
  head: RequestHead;
  authority: string;
  /** The client said `te: trailers`: it can take trailers (gRPC). */
  trailers: boolean;
  acceptEncoding: string | null;
}

/** The request an HTTP/2 stream's headers describe, or why it cannot go on as HTTP/1.1. */
export function requestFromHeaders(headers: http2.IncomingHttpHeaders, endStream: boolean, routeHeaderName: string): H2Request | string {
  const method = headers[':method'];
  const path = headers[':path'];
  const authority = headers[':authority'] ?? headers.host;
  if (typeof method !== 'string' || !TOKEN.test(method.toLowerCase())) return 'missing or malformed :method';
  if (method === 'CONNECT') return 'CONNECT is not supported';
  if (typeof path !== 'string' || path.length === 0 || BAD_TARGET.test(path)) return 'missing or malformed :path';
  if (typeof authority !== 'string' || authority.length === 0 || BAD_VALUE.test(authority) || authority.includes(' '))
    return 'missing or malformed :authority';
  let lines = `host: ${authority}\r\n`;
  let cookie: string | null = null;
  /** The forwarding fields as the client sent them (repeats combined); kept only from trusted proxies (forwarded.ts). */
  const fwd: Record<string, string | null> = {
    'x-forwarded-for': null,
    'x-forwarded-proto': null,
    'x-forwarded-host': null,
    'x-real-ip': null,
    forwarded: null,
  };
  let routeHeader: string | null = null;
  let trailers = false;
  let contentLength = -1;
  for (const [name, raw] of Object.entries(headers)) {
    if (name.charCodeAt(0) === 58 || raw === undefined) continue; // pseudo-headers
    const values = Array.isArray(raw) ? raw : [raw];
    if (!TOKEN.test(name)) return `malformed header name ${JSON.stringify(name)}`;
    for (const v of values) if (BAD_VALUE.test(v)) return `invalid character in header ${name}`;
    if (name === 'cookie') {
      cookie = values.join('; ');
      lines += `cookie: ${cookie}\r\n`;
      continue;
    }
    if (name === 'te') trailers = values.some((v) => v.toLowerCase().includes('trailers'));
    if (name in fwd) fwd[name] = values.join(', ');
    if (name === 'content-length') {
      const v = values[0] ?? '';
      if (values.length !== 1 || !/^[0-9]{1,15}$/.test(v)) return 'invalid content-length';
      contentLength = Number(v);
    }
    if (name === routeHeaderName) {
      routeHeader = values[0] ?? null;
      continue; // the preview token never reaches the upstream
    }
    if (DROPPED.has(name)) continue;
    for (const v of values) lines += `${name}: ${v}\r\n`;
  }
  let bodyMode: RequestHead['bodyMode'] = BODY_NONE;
  if (!endStream) bodyMode = contentLength >= 0 ? (contentLength > 0 ? BODY_LENGTH : BODY_NONE) : BODY_CHUNKED;
  const head: RequestHead = {
    method,
    target: path,
    minor: 1,
    forwardLines: lines,
    host: authority,
    xForwardedFor: fwd['x-forwarded-for'] ?? null,
    xForwardedProto: fwd['x-forwarded-proto'] ?? null,
    xForwardedHost: fwd['x-forwarded-host'] ?? null,
    forwarded: fwd.forwarded ?? null,
    xRealIp: fwd['x-real-ip'] ?? null,
    bodyMode,
    contentLength: bodyMode === BODY_CHUNKED ? -1 : contentLength,
    transferEncoding: bodyMode === BODY_CHUNKED ? 'chunked' : null,
    keepAlive: true,
    upgrade: null,
    expectContinue: false,
    cookie,
    routeHeader,
  };
  const ae = headers['accept-encoding'];
  return { head, authority, trailers, acceptEncoding: typeof ae === 'string' ? ae : null };
}

/** The HTTP/1.1 head sent upstream for a stream; `trusted`: the peer is one of the service's trustedProxies. */
export function upstreamHead(req: RequestHead, remote: string, via: boolean, trusted = false): string {
  let head = `${req.method} ${req.target} HTTP/1.1\r\n${req.forwardLines}`;
  head += forwardingLines(req, remote, forwardedFor(remote), 'https', trusted);
  if (req.bodyMode === BODY_CHUNKED) head += 'transfer-encoding: chunked\r\n';
  else if (req.contentLength >= 0) head += `content-length: ${req.contentLength}\r\n`;
  if (via) head += 'via: 2 cutover\r\n';
  return `${head}\r\n`;
}

/** An HTTP/1.1 response head's fields as HTTP/2 headers. */
export function responseHeaders(res: ResponseHead, setCookie: string | null, via: boolean): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = { ':status': res.status };
  const add = (line: string): void => {
    const colon = line.indexOf(':');
    if (colon <= 0) return;
    const name = line.slice(0, colon).toLowerCase();
    if (CONNECTION_SPECIFIC.has(name)) return;
    const value = line.slice(colon + 1).trim();
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (name === 'set-cookie') out[name] = Array.isArray(prev) ? [...prev, value] : [String(prev), value];
    else out[name] = `${String(prev)}, ${value}`;
  };
  for (const line of res.forwardLines.split('\r\n')) if (line !== '') add(line);
  if (setCookie !== null) add(setCookie.slice(0, -2));
  if (via) out.via = '1.1 cutover';
  return out;
}

/** A plain-text answer of the router's own on a stream; `head`: to a HEAD request, its headers alone. */
export function respondPlain(
  stream: http2.ServerHttp2Stream,
  status: number,
  body: string,
  extra: http2.OutgoingHttpHeaders = {},
  head = false,
): void {
  if (stream.destroyed || stream.closed) return;
  const text = `${body}\n`;
  if (stream.headersSent) {
    stream.close();
    return;
  }
  const fields: http2.OutgoingHttpHeaders = {
    ':status': status,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'x-cutover-error': '1',
    ...extra,
  };
  if (head) stream.respond(fields, { endStream: true });
  else {
    stream.respond(fields);
    stream.end(text);
  }
}

/**
 * A page of the router's own (an error page, the maintenance page) on a stream; to a HEAD request its
 * header fields alone, Content-Length included, as RFC 9110 9.3.2 and RFC 9113 8.1.1 allow.
 */
export function respondPage(stream: http2.ServerHttp2Stream, page: Page, head = false): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    stream.close();
    return;
  }
  if (head) stream.respond(h2PageHeaders(page), { endStream: true });
  else {
    stream.respond(h2PageHeaders(page));
    stream.end(page.body);
  }
}

/** A stream's trailers as HTTP/1.1 trailer lines (malformed names and values left out). */
export function trailerLines(t: http2.IncomingHttpHeaders): string {
  let s = '';
  for (const [k, v] of Object.entries(t)) {
    if (k.charCodeAt(0) === 58 || v === undefined || !TOKEN.test(k)) continue;
    for (const one of Array.isArray(v) ? v : [v]) if (!BAD_VALUE.test(one)) s += `${k}: ${one}\r\n`;
  }
  return s;
}

/** A chunked body's trailers as a stream's trailers, without HTTP/1.1 framing fields. */
export function streamTrailers(trailers: Iterable<[string, string]>): http2.OutgoingHttpHeaders {
  const t: http2.OutgoingHttpHeaders = {};
  for (const [k, v] of trailers) if (!CONNECTION_SPECIFIC.has(k)) t[k] = v;
  return t;
}
