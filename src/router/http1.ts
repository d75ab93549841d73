// HTTP/1.1 message heads, parsed by hand on the request path: node:http's object work costs
// several times the throughput (see the router issue's measurements). Strict where leniency smuggles:
// bare LF, obs-fold, Content-Length with Transfer-Encoding, a final coding other than chunked.
// What each field means and how a body is framed come from rules.ts, shared with the fast parsers.
import {
  BODY_CHUNKED,
  BODY_NONE,
  BODY_UNTIL_CLOSE,
  type BodyMode,
  connectionTokens,
  F_CONNECTION,
  F_CONTENT_LENGTH,
  F_CONTENT_TYPE,
  F_COOKIE,
  F_EXPECT,
  F_HOP,
  F_HOST,
  F_FORWARDED,
  F_X_FORWARDED_HOST,
  F_X_FORWARDED_PROTO,
  F_X_REAL_IP,
  F_TRANSFER_ENCODING,
  F_UPGRADE,
  F_X_FORWARDED_FOR,
  fieldKind,
  NEVER_HOP,
  ows,
  parseContentLength,
  refusedMethod,
  splitAbsoluteForm,
  validHost,
  requestBodyMode,
  responseBodyMode,
  TOKEN,
} from './rules.ts';

// Field values: visible ASCII, space, tab and obs-text; no other control characters.
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const BAD_TARGET = /[\x00-\x20\x7f]/;

export interface HeadError {
  status: 400 | 431 | 501 | 505 | 502;
  reason: string;
}

export interface RequestHead {
  method: string;
  target: string;
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minor: 0 | 1;
  /** Header lines to forward as they came (hop-by-hop and forwarding fields removed), each ending CRLF. */
  forwardLines: string;
  host: string | null;
  /** The forwarding fields as the client sent them (combined when repeated); kept only from trusted proxies. */
  xForwardedFor: string | null;
  xForwardedProto: string | null;
  xForwardedHost: string | null;
  forwarded: string | null;
  xRealIp: string | null;
  bodyMode: BodyMode;
  /** -1 when the request has no Content-Length. */
  contentLength: number;
  /** The Transfer-Encoding value to forward when chunked (keeps e.g. "gzip, chunked"). */
  transferEncoding: string | null;
  keepAlive: boolean;
  /** The Upgrade header's value when the client asked to switch protocols. */
  upgrade: string | null;
  expectContinue: boolean;
  cookie: string | null;
  /** Lower-cased header name -> value, for the few headers routing looks at (preview, sticky). */
  routeHeader: string | null;
}

export interface ResponseHead {
  status: number;
  minor: 0 | 1;
  /** First line and kept header lines, each ending CRLF, without the blank line. */
  statusLine: string;
  forwardLines: string;
  bodyMode: BodyMode;
  contentLength: number;
  keepAlive: boolean;
  contentType: string | null;
}

/**
 * Parses a request head (request line and headers, `head` without the final blank line).
 * `routeHeaderName` is a lower-case header the route table wants to see (preview), or ''.
 */
export function parseRequestHeadStrict(head: string, maxHeaders: number, routeHeaderName: string): RequestHead | HeadError {
  const lines = head.split('\r\n');
  const requestLine = lines[0] ?? '';
  // A bare LF or CR left inside a line fails the token, target and value checks below.
  const sp1 = requestLine.indexOf(' ');
  const sp2 = requestLine.lastIndexOf(' ');
  if (sp1 <= 0 || sp2 === sp1) return { status: 400, reason: 'malformed request line' };
  const method = requestLine.slice(0, sp1);
  let target = requestLine.slice(sp1 + 1, sp2);
  const version = requestLine.slice(sp2 + 1);
  if (!TOKEN.test(method)) return { status: 400, reason: 'malformed method' };
  const refused = refusedMethod(method);
  if (refused !== null) return refused;
  if (target.length === 0 || BAD_TARGET.test(target)) return { status: 400, reason: 'malformed request target' };
  // Absolute-form becomes origin-form, its authority the Host (RFC 9112 3.2.2), as nginx does.
  const absolute = splitAbsoluteForm(target);
  if (absolute !== null) {
    if (absolute.authority === '') return { status: 400, reason: 'malformed absolute-form request target' };
    target = absolute.path;
  } else if (target.charCodeAt(0) !== 47 && !(target === '*' && method === 'OPTIONS')) {
    return { status: 400, reason: 'malformed request target' };
  }
  let minor: 0 | 1;
  if (version === 'HTTP/1.1') minor = 1;
  else if (version === 'HTTP/1.0') minor = 0;
  else if (/^HTTP\/[0-9]\.[0-9]$/.test(version)) return { status: 505, reason: 'HTTP version not supported' };
  else return { status: 400, reason: 'malformed HTTP version' };
  if (lines.length - 1 > maxHeaders) return { status: 431, reason: 'too many header fields' };

  let forwardLines = '';
  let host: string | null = null;
  let xff: string | null = null;
  let xfp: string | null = null;
  let xfh: string | null = null;
  let forwarded: string | null = null;
  let xRealIp: string | null = null;
  let contentLength = -1;
  let te: string | null = null;
  let connection: Set<string> | null = null;
  let upgrade: string | null = null;
  let expectContinue = false;
  let cookie: string | null = null;
  let routeHeader: string | null = null;
  const kept: string[] = [];
  const keptNames: string[] = [];

  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      if (line.length > 0 && (line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9))
        return { status: 400, reason: 'obsolete line folding' };
      return { status: 400, reason: 'malformed header line' };
    }
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return { status: 400, reason: 'malformed header name' };
    const value = ows(line.slice(colon + 1));
    if (BAD_VALUE.test(value)) return { status: 400, reason: 'invalid character in header value' };
    const lower = name.toLowerCase();
    switch (fieldKind(lower)) {
      case F_HOST:
        if (host !== null) return { status: 400, reason: 'more than one Host header' };
        if (!validHost(value)) return { status: 400, reason: 'invalid Host header' };
        host = value;
        if (absolute !== null) continue; // replaced by the target's authority below
        break;
      case F_CONTENT_LENGTH: {
        contentLength = parseContentLength(value, contentLength);
        if (contentLength === -2) return { status: 400, reason: 'invalid Content-Length' };
        continue;
      }
      case F_TRANSFER_ENCODING:
        te = te === null ? value : `${te}, ${value}`;
        continue;
      case F_CONNECTION:
        connection ??= new Set();
        connectionTokens(value, connection);
        continue;
      case F_UPGRADE:
        upgrade = value;
        continue;
      case F_HOP:
        continue;
      case F_X_FORWARDED_FOR:
        xff = xff === null ? value : `${xff}, ${value}`;
        continue;
      case F_X_FORWARDED_PROTO:
        xfp ??= value;
        continue;
      case F_X_FORWARDED_HOST:
        xfh ??= value;
        continue;
      case F_FORWARDED:
        forwarded = forwarded === null ? value : `${forwarded}, ${value}`;
        continue;
      case F_X_REAL_IP:
        xRealIp ??= value;
        continue;
      case F_EXPECT:
        if (value.toLowerCase() === '100-continue') expectContinue = true;
        break;
      case F_COOKIE:
        cookie = cookie === null ? value : `${cookie}; ${value}`;
        break;
    }
    if (routeHeaderName !== '' && lower === routeHeaderName) {
      routeHeader = value;
      continue; // the preview token never reaches the upstream
    }
    kept.push(line);
    keptNames.push(lower);
  }

  if (minor === 1 && host === null) return { status: 400, reason: 'missing Host header' };
  if (absolute !== null) host = absolute.authority;

  const bodyMode = requestBodyMode(te, contentLength, minor);
  if (typeof bodyMode === 'string') return { status: 400, reason: bodyMode };

  let keepAlive = minor === 1;
  if (connection !== null) {
    if (connection.has('close')) keepAlive = false;
    else if (minor === 0 && connection.has('keep-alive')) keepAlive = false; // HTTP/1.0 keep-alive is not offered
  }
  const wantsUpgrade = upgrade && connection?.has('upgrade') && minor === 1;

  if (connection !== null && connection.size > 0) {
    // Headers named in Connection are hop-by-hop too.
    for (let i = 0; i < kept.length; i++) {
      const n = keptNames[i] as string;
      if (!connection.has(n) || NEVER_HOP.has(n)) forwardLines += `${kept[i]}\r\n`;
    }
  } else {
    for (let i = 0; i < kept.length; i++) forwardLines += `${kept[i]}\r\n`;
  }

  if (absolute !== null) forwardLines = `host: ${host}\r\n${forwardLines}`;

  return {
    method,
    target,
    minor,
    forwardLines,
    host,
    xForwardedFor: xff,
    xForwardedProto: xfp,
    xForwardedHost: xfh,
    forwarded,
    xRealIp,
    bodyMode,
    contentLength,
    transferEncoding: bodyMode === BODY_CHUNKED ? te : null,
    keepAlive,
    upgrade: wantsUpgrade ? upgrade : null,
    expectContinue,
    cookie,
    routeHeader,
  };
}

export function isHeadError(x: RequestHead | ResponseHead | HeadError): x is HeadError {
  return (x as HeadError).reason !== undefined;
}

/** Parses a response head; `method` is the request's (HEAD has no body). */
export function parseResponseHeadStrict(head: string, method: string, maxHeaders: number): ResponseHead | HeadError {
  const lines = head.split('\r\n');
  const statusLine = lines[0] ?? '';
  if (BAD_VALUE.test(statusLine)) return { status: 502, reason: 'control character in status line' };
  if (!statusLine.startsWith('HTTP/1.') || statusLine.length < 12 || (statusLine.charCodeAt(12) !== 32 && statusLine.length > 12)) {
    return { status: 502, reason: 'malformed status line' };
  }
  const minorChar = statusLine.charCodeAt(7);
  if (statusLine.charCodeAt(8) !== 32 || (minorChar !== 48 && minorChar !== 49)) return { status: 502, reason: 'malformed status line' };
  const minor = minorChar === 49 ? 1 : 0;
  const statusText = statusLine.slice(9, 12);
  if (!/^[1-5][0-9][0-9]$/.test(statusText)) return { status: 502, reason: 'malformed status code' };
  const status = Number(statusText);
  if (lines.length - 1 > maxHeaders) return { status: 502, reason: 'too many response header fields' };

  let contentLength = -1;
  let te: string | null = null;
  let connection: Set<string> | null = null;
  let contentType: string | null = null;
  const kept: string[] = [];
  const keptNames: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) return { status: 502, reason: 'malformed response header line' };
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return { status: 502, reason: 'malformed response header name' };
    const value = ows(line.slice(colon + 1));
    if (BAD_VALUE.test(value)) return { status: 502, reason: 'invalid character in response header value' };
    const lower = name.toLowerCase();
    switch (fieldKind(lower)) {
      case F_CONTENT_LENGTH:
        contentLength = parseContentLength(value, contentLength);
        if (contentLength === -2) return { status: 502, reason: 'invalid Content-Length in response' };
        break;
      case F_TRANSFER_ENCODING:
        te = te === null ? value : `${te}, ${value}`;
        break;
      case F_CONNECTION:
        connection ??= new Set();
        connectionTokens(value, connection);
        continue;
      case F_HOP:
        continue;
      case F_UPGRADE:
        if (status !== 101) continue;
        break;
      case F_CONTENT_TYPE:
        contentType = value;
        break;
    }
    kept.push(line);
    keptNames.push(lower);
  }

  const bodyMode = responseBodyMode(method, status, te, contentLength);
  if (bodyMode === BODY_CHUNKED) contentLength = -1;
  if (te !== null && bodyMode !== BODY_NONE) {
    // A response with both: Transfer-Encoding wins (RFC 9112 6.3); drop the Content-Length we'd otherwise forward.
    for (let i = kept.length - 1; i >= 0; i--) {
      if (keptNames[i] === 'content-length') {
        kept.splice(i, 1);
        keptNames.splice(i, 1);
      }
    }
  }

  let keepAlive = minor === 1 && bodyMode !== BODY_UNTIL_CLOSE;
  if (connection?.has('close')) keepAlive = false;
  let forwardLines = '';
  for (let i = 0; i < kept.length; i++) {
    const n = keptNames[i] as string;
    if (connection === null || !connection.has(n) || n === 'upgrade') forwardLines += `${kept[i]}\r\n`;
  }
  return {
    status,
    minor,
    statusLine: `HTTP/1.1${statusLine.slice(8)}`,
    forwardLines,
    bodyMode,
    contentLength: Math.max(contentLength, 0),
    keepAlive,
    contentType,
  };
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Content Too Large',
  421: 'Misdirected Request',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

/** A short plain-text answer of the router's own (never the upstream's), which closes the connection. */
export function errorResponse(status: number, body: string, close: boolean): string {
  const text = `${body}\n`;
  return (
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\n` +
    'content-type: text/plain; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(text)}\r\n` +
    'x-cutover-error: 1\r\n' +
    (close ? 'connection: close\r\n' : '') +
    '\r\n' +
    text
  );
}

/** The value of cookie `name` in a Cookie header, or null. */
export function cookieValue(header: string, name: string): string | null {
  let from = 0;
  for (;;) {
    const at = header.indexOf(name, from);
    if (at < 0) return null;
    const before = at === 0 ? 32 : header.charCodeAt(at - 1);
    if ((before === 32 || before === 59 || before === 9) && header.charCodeAt(at + name.length) === 61) {
      const start = at + name.length + 1;
      const end = header.indexOf(';', start);
      return ows(end < 0 ? header.slice(start) : header.slice(start, end));
    }
    from = at + name.length;
  }
}
