// The request path's head parsers: one regex validates a whole header block, then only the lines
// whose name can matter are looked at. Anything unusual (Transfer-Encoding on a request, upgrades,
// Connection naming other headers, any malformed byte) goes to the strict parsers of http1.ts, which
// also give the precise reason for a refusal. The differential test checks both agree.
import {
  BODY_CHUNKED,
  BODY_LENGTH,
  BODY_NONE,
  BODY_UNTIL_CLOSE,
  ows,
  parseRequestHeadStrict,
  parseResponseHeadStrict,
  type BodyMode,
  type HeadError,
  type RequestHead,
  type ResponseHead,
} from './http1.ts';

/** Header lines, each `name:value` with a token name and visible/obs-text value, each ending CRLF. */
const BLOCK_OK = /^(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*$/;
const METHOD_OK = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TARGET_BAD = /[\x00-\x20\x7f]/;
const STATUS_LINE_OK = /^HTTP\/1\.[01] [1-5][0-9][0-9](?: [\t\x20-\x7e\x80-\xff]*)?$/;
const DIGITS = /^[0-9]{1,15}$/;

/** Parses a request head given with the CRLF of its last line (but not the blank line). */
export function parseRequestHead(head: string, maxHeaders: number, routeHeaderName: string): RequestHead | HeadError {
  return fastRequest(head, maxHeaders, routeHeaderName) ?? parseRequestHeadStrict(head.slice(0, -2), maxHeaders, routeHeaderName);
}

/** Parses a response head given with the CRLF of its last line (but not the blank line). */
export function parseResponseHead(head: string, method: string, maxHeaders: number): ResponseHead | HeadError {
  return fastResponse(head, method, maxHeaders) ?? parseResponseHeadStrict(head.slice(0, -2), method, maxHeaders);
}

/** A Content-Length value, agreeing with an earlier one (-1: none yet); -2 when malformed or different. */
function sameLength(raw: string, prev: number): number {
  const v = ows(raw);
  if (!DIGITS.test(v)) return -2;
  const n = Number(v);
  return prev !== -1 && prev !== n ? -2 : n;
}

/** Whether a Connection value says close; null when it names anything but close and keep-alive. */
function closeToken(raw: string): boolean | null {
  let close = false;
  for (const part of raw.split(',')) {
    const t = ows(part).toLowerCase();
    if (t === 'close') close = true;
    else if (t !== 'keep-alive' && t !== '') return null;
  }
  return close;
}

export function fastRequest(head: string, maxHeaders: number, route: string): RequestHead | null {
  const eol = head.indexOf('\r\n');
  if (eol < 0) return null;
  const sp1 = head.indexOf(' ');
  const sp2 = head.lastIndexOf(' ', eol);
  if (sp1 <= 0 || sp2 <= sp1 || sp2 + 9 !== eol || !head.startsWith('HTTP/1.', sp2 + 1)) return null;
  const minorCode = head.charCodeAt(eol - 1);
  if (minorCode !== 48 && minorCode !== 49) return null;
  const method = head.slice(0, sp1);
  const target = head.slice(sp1 + 1, sp2);
  if (!METHOD_OK.test(method) || target.length === 0 || TARGET_BAD.test(target)) return null;
  const minor = minorCode === 49 ? 1 : 0;
  const block = eol + 2 === head.length ? '' : head.slice(eol + 2);
  if (!BLOCK_OK.test(block)) return null;

  let host: string | null = null;
  let xff: string | null = null;
  let contentLength = -1;
  let close = false;
  let expectContinue = false;
  let cookie: string | null = null;
  let routeHeader: string | null = null;
  let forward = '';
  let keptFrom = 0;
  let count = 0;
  const routeFirst = route === '' ? -1 : route.charCodeAt(0);
  for (let i = 0; i < block.length; ) {
    const end = block.indexOf('\r\n', i);
    if (++count > maxHeaders) return null;
    const c = block.charCodeAt(i) | 0x20;
    // Only names starting with these letters can be special; the rest pass through untouched.
    if (c === 104 || c === 99 || c === 116 || c === 117 || c === 107 || c === 112 || c === 120 || c === 101 || c === routeFirst) {
      const colon = block.indexOf(':', i);
      const name = block.slice(i, colon).toLowerCase();
      let drop = true;
      switch (name) {
        case 'host':
          if (host !== null) return null;
          host = ows(block.slice(colon + 1, end));
          drop = false;
          break;
        case 'content-length':
          contentLength = sameLength(block.slice(colon + 1, end), contentLength);
          if (contentLength === -2) return null;
          break;
        case 'connection': {
          const k = closeToken(block.slice(colon + 1, end));
          if (k === null) return null; // upgrade, or names other headers
          close ||= k;
          break;
        }
        case 'transfer-encoding':
        case 'upgrade':
          return null;
        case 'keep-alive':
        case 'proxy-connection':
        case 'te':
        case 'trailer':
        case 'x-forwarded-proto':
        case 'x-forwarded-host':
          break;
        case 'x-forwarded-for': {
          const v = ows(block.slice(colon + 1, end));
          xff = xff === null ? v : `${xff}, ${v}`;
          break;
        }
        case 'expect':
          if (ows(block.slice(colon + 1, end)).toLowerCase() === '100-continue') expectContinue = true;
          drop = false;
          break;
        case 'cookie': {
          const v = ows(block.slice(colon + 1, end));
          cookie = cookie === null ? v : `${cookie}; ${v}`;
          drop = false;
          break;
        }
        default:
          drop = false;
      }
      if (name === route) {
        routeHeader = ows(block.slice(colon + 1, end));
        drop = true;
      }
      if (drop) {
        forward += block.slice(keptFrom, i);
        keptFrom = end + 2;
      }
    }
    i = end + 2;
  }
  if (minor === 1 && host === null) return null;
  forward = keptFrom === 0 ? block : forward + block.slice(keptFrom);
  return {
    method,
    target,
    minor,
    forwardLines: forward,
    host,
    xForwardedFor: xff,
    bodyMode: contentLength > 0 ? BODY_LENGTH : BODY_NONE,
    contentLength,
    transferEncoding: null,
    keepAlive: minor === 1 && !close,
    upgrade: null,
    expectContinue,
    cookie,
    routeHeader,
  };
}

export function fastResponse(head: string, method: string, maxHeaders: number): ResponseHead | null {
  const eol = head.indexOf('\r\n');
  if (eol < 0) return null;
  const statusLine = head.slice(0, eol);
  if (!STATUS_LINE_OK.test(statusLine)) return null;
  const status = (statusLine.charCodeAt(9) - 48) * 100 + (statusLine.charCodeAt(10) - 48) * 10 + (statusLine.charCodeAt(11) - 48);
  if (status === 101) return null;
  const minor = statusLine.charCodeAt(7) === 49 ? 1 : 0;
  const block = eol + 2 === head.length ? '' : head.slice(eol + 2);
  if (!BLOCK_OK.test(block)) return null;

  let contentLength = -1;
  let te: string | null = null;
  let close = false;
  let contentType: string | null = null;
  let forward = '';
  let keptFrom = 0;
  let count = 0;
  for (let i = 0; i < block.length; ) {
    const end = block.indexOf('\r\n', i);
    if (++count > maxHeaders) return null;
    const c = block.charCodeAt(i) | 0x20;
    if (c === 99 || c === 116 || c === 107 || c === 112 || c === 117) {
      const colon = block.indexOf(':', i);
      const name = block.slice(i, colon).toLowerCase();
      let drop = false;
      switch (name) {
        case 'content-length':
          contentLength = sameLength(block.slice(colon + 1, end), contentLength);
          if (contentLength === -2) return null;
          break;
        case 'transfer-encoding': {
          const v = ows(block.slice(colon + 1, end));
          te = te === null ? v : `${te}, ${v}`;
          break;
        }
        case 'connection': {
          const k = closeToken(block.slice(colon + 1, end));
          if (k === null) return null;
          close ||= k;
          drop = true;
          break;
        }
        case 'keep-alive':
        case 'proxy-connection':
        case 'trailer':
        case 'te':
        case 'upgrade':
          drop = true;
          break;
        case 'content-type':
          contentType = ows(block.slice(colon + 1, end));
          break;
      }
      if (drop) {
        forward += block.slice(keptFrom, i);
        keptFrom = end + 2;
      }
    }
    i = end + 2;
  }
  if (te !== null && contentLength !== -1) return null; // both: the strict parser drops Content-Length
  let bodyMode: BodyMode;
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) {
    bodyMode = BODY_NONE;
  } else if (te !== null) {
    const codings = te.split(',');
    bodyMode = ows(codings[codings.length - 1] ?? '').toLowerCase() === 'chunked' ? BODY_CHUNKED : BODY_UNTIL_CLOSE;
  } else if (contentLength >= 0) {
    bodyMode = contentLength > 0 ? BODY_LENGTH : BODY_NONE;
  } else {
    bodyMode = BODY_UNTIL_CLOSE;
  }
  return {
    status,
    minor,
    statusLine: minor === 1 ? statusLine : `HTTP/1.1${statusLine.slice(8)}`,
    forwardLines: keptFrom === 0 ? block : forward + block.slice(keptFrom),
    bodyMode,
    contentLength: Math.max(contentLength, 0),
    keepAlive: minor === 1 && bodyMode !== BODY_UNTIL_CLOSE && !close,
    contentType,
  };
}
