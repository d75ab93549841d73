// The request path's head parsers: they validate a head in place in the bytes it came in, one pass
// over the bytes checking every line, with names compared as bytes; then the head becomes one latin1
// string, of which the values the router uses and the lines to forward are slices (one call into
// Node's Buffer code per head, and no view of the read buffer kept). Anything unusual (Transfer-Encoding on
// a request, upgrades, Connection naming other headers, any malformed byte, 1xx answers) goes to the
// strict parsers of http1.ts, which also give the precise reason for a refusal. The differential and
// property tests check both agree.
import { type HeadError, parseRequestHeadStrict, parseResponseHeadStrict, type RequestHead, type ResponseHead } from './http1.ts';
import {
  BODY_UNTIL_CLOSE,
  type BodyMode,
  closeToken,
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
  fieldKindAt,
  contentLengthAt,
  refusedMethod,
  validHostAt,
  REQUEST_FIRST,
  RESPONSE_FIRST,
  requestBodyMode,
  responseBodyMode,
} from './rules.ts';

/** Parses a request head given with the CRLF of its last line (but not the blank line). */
export function parseRequestHead(head: string, maxHeaders: number, routeHeaderName: string): RequestHead | HeadError {
  return fastRequest(head, maxHeaders, routeHeaderName) ?? parseRequestHeadStrict(head.slice(0, -2), maxHeaders, routeHeaderName);
}

/** Parses a response head given with the CRLF of its last line (but not the blank line). */
export function parseResponseHead(head: string, method: string, maxHeaders: number): ResponseHead | HeadError {
  return fastResponse(head, method, maxHeaders) ?? parseResponseHeadStrict(head.slice(0, -2), method, maxHeaders);
}

/** Token characters (RFC 9110 5.6.2) by byte: 1 when the byte may be in a method or a field name. */
const TOKEN_BYTE = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TOKEN_BYTE[c.charCodeAt(0)] = 1;
/** Field value bytes: tab, visible ASCII, space and obs-text; no other control character. */
const VALUE_BYTE = new Uint8Array(256).fill(1);
for (let c = 0; c < 32; c++) if (c !== 9) VALUE_BYTE[c] = 0;
VALUE_BYTE[127] = 0;
/** Request-target bytes the fast path takes: anything but controls, space and DEL. */
const TARGET_BYTE = new Uint8Array(256).fill(1);
for (let c = 0; c <= 32; c++) TARGET_BYTE[c] = 0;
TARGET_BYTE[127] = 0;

/** At most this many dropped header lines are remembered; a head with more takes the strict path. */
const MAX_DROPS = 16;

/** The method strings most requests carry, so reading one allocates nothing. */
const METHODS = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'PATCH', 'OPTIONS'].map((m) => ({ m, b: Buffer.from(m, 'latin1') }));

function methodAt(buf: Buffer, start: number, end: number, text: string): string {
  for (let k = 0; k < METHODS.length; k++) {
    const { m, b } = METHODS[k] as { m: string; b: Buffer };
    if (b.length !== end - start) continue;
    let i = 0;
    while (i < b.length && buf[start + i] === b[i]) i++;
    if (i === b.length) return m;
  }
  return text.slice(0, end - start);
}

/**
 * `buf[a, b)` with optional whitespace (space, tab) trimmed from both ends, as a slice of `text`
 * (the head's string, which starts at `buf[base]`): no call into Node's Buffer code per value.
 */
function valueIn(buf: Buffer, text: string, base: number, a: number, b: number): string {
  while (a < b && (buf[a] === 32 || buf[a] === 9)) a++;
  while (b > a && (buf[b - 1] === 32 || buf[b - 1] === 9)) b--;
  return a === b ? '' : text.slice(a - base, b - base);
}

const KEEP_ALIVE = Buffer.from('keep-alive', 'latin1');
const CLOSE = Buffer.from('close', 'latin1');

/** Whether `buf[a, b)` is the lower-case ASCII `word`, letters compared without case. */
function wordAt(buf: Buffer, a: number, b: number, word: Uint8Array): boolean {
  if (b - a !== word.length) return false;
  for (let k = 0; k < word.length; k++) if (((buf[a + k] as number) | 0x20) !== word[k]) return false;
  return true;
}

/** closeToken of the Connection value `buf[a, b)`: the two common values are read as bytes, the rest as a string. */
function connectionAt(buf: Buffer, text: string, base: number, a: number, b: number): boolean | null {
  while (a < b && (buf[a] === 32 || buf[a] === 9)) a++;
  while (b > a && (buf[b - 1] === 32 || buf[b - 1] === 9)) b--;
  if (wordAt(buf, a, b, KEEP_ALIVE)) return false;
  if (wordAt(buf, a, b, CLOSE)) return true;
  return closeToken(text.slice(a - base, b - base));
}

/** Lower-cased route header names as bytes, computed once per name. */
const routeNames = new Map<string, Uint8Array>();

/**
 * A head read in place: its bytes validated where they came in, then kept as one latin1 string (the
 * only call into Node's Buffer code per head), of which every value the router reads and the lines
 * to forward are slices. It holds no view of the read buffer, so it outlives the read as it is.
 */
class InPlace {
  /** The head, its last line's CRLF included (not the blank line); the offsets below are in it. */
  text = '';
  /** Where the header block begins (after the first line's CRLF). */
  block = 0;
  /** Ranges [from, to) of header lines that are not forwarded, in order. */
  readonly drops = new Int32Array(MAX_DROPS * 2);
  dropCount = 0;

  /** The header lines to forward as a string (what the strict parsers give as forwardLines). */
  keptLines(): string {
    const t = this.text;
    let s = '';
    let from = this.block;
    for (let k = 0; k < this.dropCount; k++) {
      const a = this.drops[2 * k] as number;
      if (a > from) s += t.slice(from, a);
      from = this.drops[2 * k + 1] as number;
    }
    return t.length > from ? s + t.slice(from) : s;
  }
}

/** Records header line [from, to) as dropped (joined to the previous range when adjacent): the new count, or -1 when full. */
function drop(d: InPlace, count: number, from: number, to: number): number {
  const r = d.drops;
  if (count > 0 && r[2 * count - 1] === from) {
    r[2 * count - 1] = to;
    return count;
  }
  if (count === MAX_DROPS) return -1;
  r[2 * count] = from;
  r[2 * count + 1] = to;
  return count + 1;
}

/**
 * A request head read in place from the client's bytes (the fast parser). It is a RequestHead whose
 * `forwardLines` is made only when read: the upstream gets the head's own bytes minus the dropped
 * lines (`forwardText`). One per connection, reused for every request on it; `release` lets
 * go of the client's buffer between requests.
 */
export class ScannedRequest extends InPlace implements RequestHead {
  method = '';
  target = '';
  minor: 0 | 1 = 1;
  host: string | null = null;
  xForwardedFor: string | null = null;
  xForwardedProto: string | null = null;
  xForwardedHost: string | null = null;
  forwarded: string | null = null;
  xRealIp: string | null = null;
  bodyMode: BodyMode = 0;
  contentLength = -1;
  transferEncoding: string | null = null;
  keepAlive = true;
  upgrade: string | null = null;
  expectContinue = false;
  cookie: string | null = null;
  routeHeader: string | null = null;
  /** The target as read: when someone replaces `target` (an edge's stripPrefix), the line is rebuilt. */
  readTarget = '';

  /** Made only when someone reads it (retry's marker, compression); the request path copies `forwardText`. */
  get forwardLines(): string {
    return this.keptLines();
  }

  release(): void {
    this.text = '';
    this.host = this.xForwardedFor = this.xForwardedProto = this.xForwardedHost = this.forwarded = null;
    this.xRealIp = this.cookie = this.routeHeader = null;
  }

  /** The request line and the kept header lines as one string (the head itself when nothing is dropped). */
  forwardText(): string {
    if (this.target !== this.readTarget) return `${this.method} ${this.target} HTTP/1.${this.minor}\r\n${this.keptLines()}`;
    if (this.dropCount === 0) return this.text;
    return this.text.slice(0, this.block) + this.keptLines();
  }
}

/**
 * Reads the request head `buf[start, end)` (its last line's CRLF included, not the blank line) into
 * `out`, without a string per line: names are compared as bytes and only the values the router uses
 * become strings. False when the head is anything but plain (the strict parser decides it then).
 */
export function scanRequest(buf: Buffer, start: number, end: number, maxHeaders: number, route: string, out: ScannedRequest): boolean {
  // Request line: token SP origin-form-target SP HTTP/1.x CRLF.
  let i = start;
  while (i < end && TOKEN_BYTE[buf[i] as number] === 1) i++;
  if (i === start || i >= end || buf[i] !== 32) return false;
  const methodEnd = i;
  const targetStart = ++i;
  if (buf[i] !== 47) return false; // origin-form only; absolute-form is rewritten by the strict parser
  while (i < end && TARGET_BYTE[buf[i] as number] === 1) i++;
  const targetEnd = i;
  if (
    i + 10 > end ||
    buf[i] !== 32 ||
    buf[i + 1] !== 72 || // H
    buf[i + 2] !== 84 || // T
    buf[i + 3] !== 84 || // T
    buf[i + 4] !== 80 || // P
    buf[i + 5] !== 47 || // /
    buf[i + 6] !== 49 || // 1
    buf[i + 7] !== 46 || // .
    (buf[i + 8] !== 48 && buf[i + 8] !== 49) ||
    buf[i + 9] !== 13 ||
    buf[i + 10] !== 10
  )
    return false;
  const minor = buf[i + 8] === 49 ? 1 : 0;
  const text = buf.toString('latin1', start, end);
  const method = methodAt(buf, start, methodEnd, text);
  if (refusedMethod(method) !== null) return false;
  const block = i + 11;

  let routeName: Uint8Array | undefined;
  if (route !== '') {
    routeName = routeNames.get(route);
    if (routeName === undefined) routeNames.set(route, (routeName = Buffer.from(route, 'latin1')));
  }
  let host: string | null = null;
  let xff: string | null = null;
  let xfp: string | null = null;
  let xfh: string | null = null;
  let forwarded: string | null = null;
  let xRealIp: string | null = null;
  let contentLength = -1;
  let close = false;
  let expectContinue = false;
  let cookie: string | null = null;
  let routeHeader: string | null = null;
  let drops = 0;
  let count = 0;
  for (i = block; i < end; ) {
    if (++count > maxHeaders) return false;
    const lineStart = i;
    while (i < end && TOKEN_BYTE[buf[i] as number] === 1) i++;
    if (i === lineStart || buf[i] !== 58) return false; // name ':' (no space before the colon)
    const nameEnd = i;
    const valueStart = ++i;
    while (i < end && VALUE_BYTE[buf[i] as number] === 1) i++;
    if (i + 1 >= end || buf[i] !== 13 || buf[i + 1] !== 10) return false; // only CRLF ends a line
    const valueEnd = i;
    i += 2;
    const c = buf[lineStart] as number;
    let isRoute = false;
    if (routeName !== undefined && nameEnd - lineStart === routeName.length && (c | 0x20) === routeName[0]) {
      let k = 1;
      while (k < routeName.length && ((buf[lineStart + k] as number) | 0x20) === routeName[k]) k++;
      isRoute = k === routeName.length;
    }
    // Only names starting with these letters can be special; the rest pass through untouched.
    if (c >= 128 || (REQUEST_FIRST[c] !== 1 && !isRoute)) continue;
    let dropLine = true;
    switch (fieldKindAt(buf, lineStart, nameEnd)) {
      case F_HOST:
        if (host !== null) return false;
        if (!validHostAt(buf, valueStart, valueEnd)) return false;
        host = valueIn(buf, text, start, valueStart, valueEnd);
        dropLine = false;
        break;
      case F_CONTENT_LENGTH:
        contentLength = contentLengthAt(buf, valueStart, valueEnd, contentLength);
        if (contentLength === -2) return false;
        break;
      case F_CONNECTION: {
        const k = connectionAt(buf, text, start, valueStart, valueEnd);
        if (k === null) return false; // upgrade, or names other headers
        close ||= k;
        break;
      }
      case F_TRANSFER_ENCODING:
      case F_UPGRADE:
        return false;
      case F_HOP:
        break;
      case F_X_FORWARDED_PROTO:
        xfp ??= valueIn(buf, text, start, valueStart, valueEnd);
        break;
      case F_X_FORWARDED_HOST:
        xfh ??= valueIn(buf, text, start, valueStart, valueEnd);
        break;
      case F_FORWARDED: {
        const v = valueIn(buf, text, start, valueStart, valueEnd);
        forwarded = forwarded === null ? v : `${forwarded}, ${v}`;
        break;
      }
      case F_X_REAL_IP:
        xRealIp ??= valueIn(buf, text, start, valueStart, valueEnd);
        break;
      case F_X_FORWARDED_FOR: {
        const v = valueIn(buf, text, start, valueStart, valueEnd);
        xff = xff === null ? v : `${xff}, ${v}`;
        break;
      }
      case F_EXPECT:
        if (valueIn(buf, text, start, valueStart, valueEnd).toLowerCase() === '100-continue') expectContinue = true;
        dropLine = false;
        break;
      case F_COOKIE: {
        const v = valueIn(buf, text, start, valueStart, valueEnd);
        cookie = cookie === null ? v : `${cookie}; ${v}`;
        dropLine = false;
        break;
      }
      default:
        dropLine = false;
    }
    if (isRoute) {
      routeHeader = valueIn(buf, text, start, valueStart, valueEnd);
      dropLine = true;
    }
    if (dropLine && (drops = drop(out, drops, lineStart - start, i - start)) < 0) return false;
  }
  if (minor === 1 && host === null) return false;
  out.method = method;
  out.target = out.readTarget = text.slice(targetStart - start, targetEnd - start);
  out.minor = minor;
  out.host = host;
  out.xForwardedFor = xff;
  out.xForwardedProto = xfp;
  out.xForwardedHost = xfh;
  out.forwarded = forwarded;
  out.xRealIp = xRealIp;
  out.bodyMode = requestBodyMode(null, contentLength, minor) as BodyMode;
  out.contentLength = contentLength;
  out.transferEncoding = null;
  out.keepAlive = minor === 1 && !close;
  out.upgrade = null;
  out.expectContinue = expectContinue;
  out.cookie = cookie;
  out.routeHeader = routeHeader;
  out.text = text;
  out.block = block - start;
  out.dropCount = drops;
  return true;
}

/** The fast parser over a head given as a string (the differential and property tests use it). */
export function fastRequest(head: string, maxHeaders: number, route: string): RequestHead | null {
  const buf = Buffer.from(head, 'latin1');
  const s = new ScannedRequest();
  if (!scanRequest(buf, 0, buf.length, maxHeaders, route, s)) return null;
  return {
    method: s.method,
    target: s.target,
    minor: s.minor,
    forwardLines: s.forwardLines,
    host: s.host,
    xForwardedFor: s.xForwardedFor,
    xForwardedProto: s.xForwardedProto,
    xForwardedHost: s.xForwardedHost,
    forwarded: s.forwarded,
    xRealIp: s.xRealIp,
    bodyMode: s.bodyMode,
    contentLength: s.contentLength,
    transferEncoding: s.transferEncoding,
    keepAlive: s.keepAlive,
    upgrade: s.upgrade,
    expectContinue: s.expectContinue,
    cookie: s.cookie,
    routeHeader: s.routeHeader,
  };
}

/**
 * A response head read in place from the upstream's bytes, like ScannedRequest: `statusLine`,
 * `forwardLines` and `contentType` are made only when read, the request path sends `headText`.
 * Final answers only: interim (1xx) ones take the string parsers.
 */
export class ScannedResponse extends InPlace implements ResponseHead {
  status = 0;
  minor: 0 | 1 = 1;
  bodyMode: BodyMode = 0;
  contentLength = 0;
  keepAlive = true;
  /** Where the Content-Type value is in `text` (-1: none). */
  ctStart = -1;
  ctEnd = -1;

  // Made only when someone reads them (compression, the drain's event-stream check); the request
  // path sends `headText`.
  get statusLine(): string {
    return this.minor === 1 ? this.text.slice(0, this.block - 2) : `HTTP/1.1${this.text.slice(8, this.block - 2)}`;
  }

  get forwardLines(): string {
    return this.keptLines();
  }

  get contentType(): string | null {
    if (this.ctStart < 0) return null;
    const t = this.text;
    let a = this.ctStart;
    let b = this.ctEnd;
    while (a < b && (t.charCodeAt(a) === 32 || t.charCodeAt(a) === 9)) a++;
    while (b > a && (t.charCodeAt(b - 1) === 32 || t.charCodeAt(b - 1) === 9)) b--;
    return t.slice(a, b);
  }

  release(): void {
    this.text = '';
    this.ctStart = this.ctEnd = -1;
  }

  /** The status line (as HTTP/1.1) and the kept header lines as one string (one slice when nothing is dropped). */
  headText(): string {
    if (this.minor === 0) return `HTTP/1.1${this.text.slice(8, this.block)}${this.keptLines()}`;
    if (this.dropCount === 0) return this.text;
    return this.text.slice(0, this.block) + this.keptLines();
  }
}

/**
 * Reads a final response head `buf[start, end)` (its last line's CRLF included) into `out`, as
 * scanRequest does. False for 1xx answers and anything unusual (the string parsers decide those).
 */
export function scanResponse(buf: Buffer, start: number, end: number, method: string, maxHeaders: number, out: ScannedResponse): boolean {
  // Status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF.
  let i = start;
  if (
    i + 14 > end ||
    buf[i] !== 72 ||
    buf[i + 1] !== 84 ||
    buf[i + 2] !== 84 ||
    buf[i + 3] !== 80 ||
    buf[i + 4] !== 47 ||
    buf[i + 5] !== 49 ||
    buf[i + 6] !== 46 ||
    (buf[i + 7] !== 48 && buf[i + 7] !== 49) ||
    buf[i + 8] !== 32
  )
    return false;
  const d0 = (buf[i + 9] as number) - 48;
  const d1 = (buf[i + 10] as number) - 48;
  const d2 = (buf[i + 11] as number) - 48;
  if (d0 < 2 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return false;
  const status = d0 * 100 + d1 * 10 + d2;
  const minor = buf[i + 7] === 49 ? 1 : 0;
  i += 12;
  if (buf[i] === 32) {
    i++;
    while (i < end && VALUE_BYTE[buf[i] as number] === 1) i++;
  }
  if (i + 1 >= end || buf[i] !== 13 || buf[i + 1] !== 10) return false;
  const block = i + 2;
  const text = buf.toString('latin1', start, end);

  let contentLength = -1;
  let te: string | null = null;
  let close = false;
  let ctStart = -1;
  let ctEnd = -1;
  let drops = 0;
  let count = 0;
  for (i = block; i < end; ) {
    if (++count > maxHeaders) return false;
    const lineStart = i;
    while (i < end && TOKEN_BYTE[buf[i] as number] === 1) i++;
    if (i === lineStart || buf[i] !== 58) return false;
    const nameEnd = i;
    const valueStart = ++i;
    while (i < end && VALUE_BYTE[buf[i] as number] === 1) i++;
    if (i + 1 >= end || buf[i] !== 13 || buf[i + 1] !== 10) return false;
    const valueEnd = i;
    i += 2;
    const c = buf[lineStart] as number;
    if (c >= 128 || RESPONSE_FIRST[c] !== 1) continue;
    let dropLine = false;
    switch (fieldKindAt(buf, lineStart, nameEnd)) {
      case F_CONTENT_LENGTH:
        contentLength = contentLengthAt(buf, valueStart, valueEnd, contentLength);
        if (contentLength === -2) return false;
        break;
      case F_TRANSFER_ENCODING: {
        const v = valueIn(buf, text, start, valueStart, valueEnd);
        te = te === null ? v : `${te}, ${v}`;
        break;
      }
      case F_CONNECTION: {
        const k = connectionAt(buf, text, start, valueStart, valueEnd);
        if (k === null) return false;
        close ||= k;
        dropLine = true;
        break;
      }
      case F_HOP:
      case F_UPGRADE:
        dropLine = true;
        break;
      case F_CONTENT_TYPE:
        ctStart = valueStart;
        ctEnd = valueEnd;
        break;
    }
    if (dropLine && (drops = drop(out, drops, lineStart - start, i - start)) < 0) return false;
  }
  if (te !== null && contentLength !== -1) return false; // both: the strict parser drops Content-Length
  const bodyMode = responseBodyMode(method, status, te, contentLength);
  out.status = status;
  out.minor = minor;
  out.bodyMode = bodyMode;
  out.contentLength = Math.max(contentLength, 0);
  out.keepAlive = minor === 1 && bodyMode !== BODY_UNTIL_CLOSE && !close;
  out.text = text;
  out.block = block - start;
  out.dropCount = drops;
  out.ctStart = ctStart < 0 ? -1 : ctStart - start;
  out.ctEnd = ctStart < 0 ? -1 : ctEnd - start;
  return true;
}

/** The fast parser over a head given as a string (the differential tests use it). */
export function fastResponse(head: string, method: string, maxHeaders: number): ResponseHead | null {
  const buf = Buffer.from(head, 'latin1');
  const s = new ScannedResponse();
  if (!scanResponse(buf, 0, buf.length, method, maxHeaders, s)) return null;
  return {
    status: s.status,
    minor: s.minor,
    statusLine: s.statusLine,
    forwardLines: s.forwardLines,
    bodyMode: s.bodyMode,
    contentLength: s.contentLength,
    keepAlive: s.keepAlive,
    contentType: s.contentType,
  };
}
