// The HTTP/1.1 rules the router follows, in one place: how a Content-Length is read, how a message's
// body is framed, which header fields are hop-by-hop or set by the router itself, and what a
// Connection value means. Both head parsers (the strict one in http1.ts and the fast one in heads.ts)
// call these, so the two can only differ in speed, never in what they decide.

export const BODY_NONE = 0;
export const BODY_LENGTH = 1;
export const BODY_CHUNKED = 2;
export const BODY_UNTIL_CLOSE = 3;
export type BodyMode = 0 | 1 | 2 | 3;

export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Trims optional whitespace (space and tab only: RFC 9110 5.6.3), never other characters. */
export function ows(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

const DIGITS = /^[0-9]{1,15}$/;

/**
 * A Content-Length value, agreeing with an earlier one (`prev`, -1 when none yet). Identical repeated
 * values ("5, 5") are allowed by RFC 9110 8.6; anything else (a sign, a space inside, a different
 * value, more than 15 digits) is -2.
 */
export function parseContentLength(value: string, prev: number): number {
  let result = prev;
  let from = 0;
  for (;;) {
    const comma = value.indexOf(',', from);
    const v = ows(comma < 0 ? (from === 0 ? value : value.slice(from)) : value.slice(from, comma));
    if (!DIGITS.test(v)) return -2;
    const n = Number(v);
    if (result !== -1 && result !== n) return -2;
    result = n;
    if (comma < 0) return result;
    from = comma + 1;
  }
}

/**
 * parseContentLength over the value bytes `buf[a, b)`: a plain run of digits is read in place, anything
 * else (a list, a bad byte) as a string by parseContentLength itself, so the rule stays the one above.
 */
export function contentLengthAt(buf: Uint8Array, a: number, b: number, prev: number): number {
  let i = a;
  let j = b;
  while (i < j && (buf[i] === 32 || buf[i] === 9)) i++;
  while (j > i && (buf[j - 1] === 32 || buf[j - 1] === 9)) j--;
  if (j > i && j - i <= 15) {
    let n = 0;
    let k = i;
    for (; k < j; k++) {
      const d = (buf[k] as number) - 48;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
    }
    if (k === j) return prev !== -1 && prev !== n ? -2 : n;
  }
  return parseContentLength(Buffer.from(buf.buffer, buf.byteOffset + a, b - a).toString('latin1'), prev);
}

/** Adds the lower-cased tokens of a Connection value to `into`. */
export function connectionTokens(value: string, into: Set<string>): void {
  for (const part of value.split(',')) {
    const t = ows(part).toLowerCase();
    if (t) into.add(t);
  }
}

/** Whether a Connection value says close; null when it names anything but close and keep-alive. */
export function closeToken(raw: string): boolean | null {
  let close = false;
  for (const part of raw.split(',')) {
    const t = ows(part).toLowerCase();
    if (t === 'close') close = true;
    else if (t !== 'keep-alive' && t !== '') return null;
  }
  return close;
}

/** Hop-by-hop headers: never forwarded as received (RFC 9110 7.6.1). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

// What a header field means to the router. Everything not listed is F_OTHER and passes through.
export const F_OTHER = 0;
export const F_HOST = 1;
export const F_CONTENT_LENGTH = 2;
export const F_TRANSFER_ENCODING = 3;
export const F_CONNECTION = 4;
export const F_UPGRADE = 5;
/** Hop-by-hop fields other than the framing ones above: dropped. */
export const F_HOP = 6;
export const F_X_FORWARDED_FOR = 7;
export const F_EXPECT = 9;
export const F_COOKIE = 10;
export const F_CONTENT_TYPE = 11;
/** Forwarding fields: stripped and set for untrusted peers, appended to for trusted proxies. */
export const F_FORWARDED = 12;
export const F_X_REAL_IP = 13;
export const F_X_FORWARDED_PROTO = 14;
export const F_X_FORWARDED_HOST = 15;

const KINDS = new Map<string, number>([
  ['host', F_HOST],
  ['content-length', F_CONTENT_LENGTH],
  ['transfer-encoding', F_TRANSFER_ENCODING],
  ['connection', F_CONNECTION],
  ['upgrade', F_UPGRADE],
  ['keep-alive', F_HOP],
  ['proxy-connection', F_HOP],
  ['te', F_HOP],
  ['trailer', F_HOP],
  ['x-forwarded-for', F_X_FORWARDED_FOR],
  ['x-forwarded-proto', F_X_FORWARDED_PROTO],
  ['x-forwarded-host', F_X_FORWARDED_HOST],
  ['forwarded', F_FORWARDED],
  ['x-real-ip', F_X_REAL_IP],
  ['expect', F_EXPECT],
  ['cookie', F_COOKIE],
  ['content-type', F_CONTENT_TYPE],
]);
for (const name of HOP_BY_HOP) if (!KINDS.has(name)) throw new Error(`hop-by-hop field ${name} has no kind`);

/** The kind of a lower-cased field name. */
export function fieldKind(lower: string): number {
  return KINDS.get(lower) ?? F_OTHER;
}

// The same table by name length, as bytes, for the fast parsers that read heads in place.
const KINDS_BY_LENGTH: { name: Uint8Array; kind: number }[][] = [];
for (const [name, kind] of KINDS) (KINDS_BY_LENGTH[name.length] ??= []).push({ name: Buffer.from(name, 'latin1'), kind });

/**
 * The kind of the field name in `buf[start, end)`, any case, without making a string. The name must
 * already be a token: OR-ing 0x20 then maps only A-Z onto a-z (the table's names are letters and '-').
 */
export function fieldKindAt(buf: Uint8Array, start: number, end: number): number {
  const list = KINDS_BY_LENGTH[end - start];
  if (list === undefined) return F_OTHER;
  for (let k = 0; k < list.length; k++) {
    const e = list[k] as { name: Uint8Array; kind: number };
    const name = e.name;
    let i = 0;
    while (i < name.length && ((buf[start + i] as number) | 0x20) === name[i]) i++;
    if (i === name.length) return e.kind;
  }
  return F_OTHER;
}

const REQUEST_KINDS = new Set([
  F_HOST,
  F_CONTENT_LENGTH,
  F_TRANSFER_ENCODING,
  F_CONNECTION,
  F_UPGRADE,
  F_HOP,
  F_X_FORWARDED_FOR,
  F_X_FORWARDED_PROTO,
  F_X_FORWARDED_HOST,
  F_FORWARDED,
  F_X_REAL_IP,
  F_EXPECT,
  F_COOKIE,
]);
const RESPONSE_KINDS = new Set([F_CONTENT_LENGTH, F_TRANSFER_ENCODING, F_CONNECTION, F_UPGRADE, F_HOP, F_CONTENT_TYPE]);

function firstLetters(kinds: Set<number>): Uint8Array {
  const t = new Uint8Array(128);
  for (const [name, kind] of KINDS) {
    if (!kinds.has(kind)) continue;
    const c = name.charCodeAt(0);
    t[c] = 1;
    t[c & ~0x20] = 1;
  }
  return t;
}

/** By first character code (< 128): 1 when a request field starting with it can matter to the router. */
export const REQUEST_FIRST: Uint8Array = firstLetters(REQUEST_KINDS);
/** The same for response fields. */
export const RESPONSE_FIRST: Uint8Array = firstLetters(RESPONSE_KINDS);

/** The codings of a Transfer-Encoding value, last one first-class: whether it ends with chunked. */
function lastCoding(te: string): string {
  const comma = te.lastIndexOf(',');
  return ows(comma < 0 ? te : te.slice(comma + 1)).toLowerCase();
}

/**
 * How a request's body is framed (RFC 9112 6.3), or the reason it is refused with 400.
 * `te` is the combined Transfer-Encoding value or null, `contentLength` -1 when absent.
 */
export function requestBodyMode(te: string | null, contentLength: number, minor: 0 | 1): BodyMode | string {
  if (te === null) return contentLength > 0 ? BODY_LENGTH : BODY_NONE;
  if (contentLength !== -1) return 'both Content-Length and Transfer-Encoding';
  if (minor === 0) return 'Transfer-Encoding in an HTTP/1.0 request';
  const codings = te.split(',');
  if (lastCoding(te) !== 'chunked') return 'Transfer-Encoding must end with chunked';
  for (let i = 0; i < codings.length - 1; i++) {
    const c = ows(codings[i] as string).toLowerCase();
    if (c === 'chunked') return 'chunked applied more than once';
    if (!TOKEN.test(c)) return 'malformed Transfer-Encoding';
  }
  return BODY_CHUNKED;
}

/**
 * How a response's body is framed (RFC 9112 6.3): none for HEAD, 1xx, 204 and 304; chunked when
 * Transfer-Encoding ends with it (it wins over Content-Length), until close for any other coding or
 * when neither field is there.
 */
export function responseBodyMode(method: string, status: number, te: string | null, contentLength: number): BodyMode {
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) return BODY_NONE;
  if (te !== null) return lastCoding(te) === 'chunked' ? BODY_CHUNKED : BODY_UNTIL_CLOSE;
  if (contentLength >= 0) return contentLength > 0 ? BODY_LENGTH : BODY_NONE;
  return BODY_UNTIL_CLOSE;
}

/**
 * Fields a Connection header may not make hop-by-hop: without Host an HTTP/1.1 request is invalid
 * (`Connection: host` would make the upstream see one), and the framing fields are the router's own.
 */
export const NEVER_HOP: ReadonlySet<string> = new Set(['host', 'content-length', 'transfer-encoding']);

// uri-host [ ":" port ] (RFC 9110 7.2): a reg-name, IPv4 or bracketed IPv6 literal, no userinfo,
// no list (RFC 9112 3.2 wants 400 for `Host: a, b`), no whitespace.
const HOST_OK = /^(?:[A-Za-z0-9\-._~!$&'()*+;=%]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{0,5})?$/;

/** Whether a Host value (already trimmed) is one authority; '' is allowed (RFC 9112 3.2). */
export function validHost(value: string): boolean {
  return value.length <= 255 && HOST_OK.test(value) && value.indexOf(',') < 0;
}

/** Bytes of a reg-name (HOST_OK's first class) and of a bracketed IP literal, by byte (ASCII only). */
const REG_NAME_BYTE = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+;=%") REG_NAME_BYTE[c.charCodeAt(0)] = 1;
const IP_LITERAL_BYTE = new Uint8Array(128);
for (const c of '0123456789ABCDEFabcdef:.') IP_LITERAL_BYTE[c.charCodeAt(0)] = 1;

/** validHost of the Host value `buf[a, b)` (optional whitespace around it trimmed), read as bytes. */
export function validHostAt(buf: Uint8Array, a: number, b: number): boolean {
  while (a < b && (buf[a] === 32 || buf[a] === 9)) a++;
  while (b > a && (buf[b - 1] === 32 || buf[b - 1] === 9)) b--;
  if (b - a > 255) return false;
  let i = a;
  if (i < b && buf[i] === 91) {
    // [ IP literal ]
    const from = ++i;
    while (i < b && (buf[i] as number) < 128 && IP_LITERAL_BYTE[buf[i] as number] === 1) i++;
    if (i === from || i >= b || buf[i] !== 93) return false;
    i++;
  } else {
    while (i < b && (buf[i] as number) < 128 && REG_NAME_BYTE[buf[i] as number] === 1) i++;
  }
  if (i === b) return true;
  // ":" and at most five digits of port
  if (buf[i] !== 58 || b - i - 1 > 5) return false;
  for (i++; i < b; i++) if ((buf[i] as number) < 48 || (buf[i] as number) > 57) return false;
  return true;
}

/**
 * Methods refused before anything reaches an upstream: CONNECT asks for a tunnel, which a reverse
 * proxy does not give (and whose connection could never go back to a pool); PRI is the HTTP/2
 * connection preface, which is not HTTP/1.1 at all. The status and reason, or null.
 */
export function refusedMethod(method: string): { status: 501 | 505; reason: string } | null {
  if (method === 'CONNECT') return { status: 501, reason: 'CONNECT is not supported: this router is a reverse proxy' };
  if (method === 'PRI') return { status: 505, reason: 'HTTP/2 with prior knowledge is not supported on this listener' };
  return null;
}

/**
 * An absolute-form target (`http://host:port/path?q`, RFC 9112 3.2.2) as its authority and the
 * origin-form path to forward; null when the target is not absolute-form; '' as authority when the
 * scheme is http(s) but the authority is missing or carries userinfo (refused with 400).
 */
export function splitAbsoluteForm(target: string): { authority: string; path: string } | null {
  const c = target.charCodeAt(0);
  if (c === 47 || c === 42) return null; // origin-form or asterisk-form
  const lower = target.slice(0, 8).toLowerCase();
  const skip = lower.startsWith('http://') ? 7 : lower.startsWith('https://') ? 8 : -1;
  if (skip < 0) return null;
  let end = skip;
  while (end < target.length) {
    const ch = target.charCodeAt(end);
    if (ch === 47 || ch === 63 || ch === 35) break; // / ? #
    end++;
  }
  const authority = target.slice(skip, end);
  const path = end === target.length ? '/' : target.charCodeAt(end) === 47 ? target.slice(end) : `/${target.slice(end)}`;
  if (authority === '' || authority.includes('@') || !validHost(authority)) return { authority: '', path };
  return { authority, path };
}

/**
 * Fields a trailer may not carry (RFC 9110 6.5.1): framing, routing, hop-by-hop, authentication and
 * content fields. A trailer naming one is dropped, so no upstream can act on it after the body.
 */
export const FORBIDDEN_TRAILERS: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP,
  'content-length',
  'host',
  'expect',
  'max-forwards',
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'content-encoding',
  'content-type',
  'content-range',
  'range',
  'cache-control',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-real-ip',
]);
