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
/** Fields the router sets from what it saw; a client's own value is not trusted. */
export const F_SET_BY_ROUTER = 8;
export const F_EXPECT = 9;
export const F_COOKIE = 10;
export const F_CONTENT_TYPE = 11;

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
  ['x-forwarded-proto', F_SET_BY_ROUTER],
  ['x-forwarded-host', F_SET_BY_ROUTER],
  ['expect', F_EXPECT],
  ['cookie', F_COOKIE],
  ['content-type', F_CONTENT_TYPE],
]);
for (const name of HOP_BY_HOP) if (!KINDS.has(name)) throw new Error(`hop-by-hop field ${name} has no kind`);

/** The kind of a lower-cased field name. */
export function fieldKind(lower: string): number {
  return KINDS.get(lower) ?? F_OTHER;
}

const REQUEST_KINDS = new Set([
  F_HOST,
  F_CONTENT_LENGTH,
  F_TRANSFER_ENCODING,
  F_CONNECTION,
  F_UPGRADE,
  F_HOP,
  F_X_FORWARDED_FOR,
  F_SET_BY_ROUTER,
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
