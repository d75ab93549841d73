// The request path's head parsers: one regex validates a whole header block, then only the lines
// whose name can matter are looked at. Anything unusual (Transfer-Encoding on a request, upgrades,
// Connection naming other headers, any malformed byte) goes to the strict parsers of http1.ts, which
// also give the precise reason for a refusal. The differential test checks both agree.
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
  fieldKind,
  ows,
  parseContentLength,
  refusedMethod,
  validHost,
  REQUEST_FIRST,
  RESPONSE_FIRST,
  requestBodyMode,
  responseBodyMode,
} from './rules.ts';

/** Header lines, each `name:value` with a token name and visible/obs-text value, each ending CRLF. */
const BLOCK_OK = /^(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*$/;
const METHOD_OK = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TARGET_BAD = /[\x00-\x20\x7f]/;
const STATUS_LINE_OK = /^HTTP\/1\.[01] [1-5][0-9][0-9](?: [\t\x20-\x7e\x80-\xff]*)?$/;

/** Parses a request head given with the CRLF of its last line (but not the blank line). */
export function parseRequestHead(head: string, maxHeaders: number, routeHeaderName: string): RequestHead | HeadError {
  return fastRequest(head, maxHeaders, routeHeaderName) ?? parseRequestHeadStrict(head.slice(0, -2), maxHeaders, routeHeaderName);
}

/** Parses a response head given with the CRLF of its last line (but not the blank line). */
export function parseResponseHead(head: string, method: string, maxHeaders: number): ResponseHead | HeadError {
  return fastResponse(head, method, maxHeaders) ?? parseResponseHeadStrict(head.slice(0, -2), method, maxHeaders);
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
  // Only origin-form targets take the fast path; absolute-form is rewritten by the strict parser.
  if (!METHOD_OK.test(method) || target.charCodeAt(0) !== 47 || TARGET_BAD.test(target) || refusedMethod(method) !== null) return null;
  const minor = minorCode === 49 ? 1 : 0;
  const block = eol + 2 === head.length ? '' : head.slice(eol + 2);
  if (!BLOCK_OK.test(block)) return null;

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
  let forward = '';
  let keptFrom = 0;
  let count = 0;
  const routeFirst = route === '' ? -1 : route.charCodeAt(0);
  for (let i = 0; i < block.length; ) {
    const end = block.indexOf('\r\n', i);
    if (++count > maxHeaders) return null;
    const c = block.charCodeAt(i);
    // Only names starting with these letters can be special; the rest pass through untouched.
    if ((c < 128 && REQUEST_FIRST[c] === 1) || (c | 0x20) === routeFirst) {
      const colon = block.indexOf(':', i);
      const name = block.slice(i, colon).toLowerCase();
      let drop = true;
      switch (fieldKind(name)) {
        case F_HOST:
          if (host !== null) return null;
          host = ows(block.slice(colon + 1, end));
          if (!validHost(host)) return null;
          drop = false;
          break;
        case F_CONTENT_LENGTH:
          contentLength = parseContentLength(block.slice(colon + 1, end), contentLength);
          if (contentLength === -2) return null;
          break;
        case F_CONNECTION: {
          const k = closeToken(block.slice(colon + 1, end));
          if (k === null) return null; // upgrade, or names other headers
          close ||= k;
          break;
        }
        case F_TRANSFER_ENCODING:
        case F_UPGRADE:
          return null;
        case F_HOP:
          break;
        case F_X_FORWARDED_PROTO:
          xfp ??= ows(block.slice(colon + 1, end));
          break;
        case F_X_FORWARDED_HOST:
          xfh ??= ows(block.slice(colon + 1, end));
          break;
        case F_FORWARDED: {
          const v = ows(block.slice(colon + 1, end));
          forwarded = forwarded === null ? v : `${forwarded}, ${v}`;
          break;
        }
        case F_X_REAL_IP:
          xRealIp ??= ows(block.slice(colon + 1, end));
          break;
        case F_X_FORWARDED_FOR: {
          const v = ows(block.slice(colon + 1, end));
          xff = xff === null ? v : `${xff}, ${v}`;
          break;
        }
        case F_EXPECT:
          if (ows(block.slice(colon + 1, end)).toLowerCase() === '100-continue') expectContinue = true;
          drop = false;
          break;
        case F_COOKIE: {
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
    xForwardedProto: xfp,
    xForwardedHost: xfh,
    forwarded,
    xRealIp,
    bodyMode: requestBodyMode(null, contentLength, minor) as BodyMode,
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
    const c = block.charCodeAt(i);
    if (c < 128 && RESPONSE_FIRST[c] === 1) {
      const colon = block.indexOf(':', i);
      const name = block.slice(i, colon).toLowerCase();
      let drop = false;
      switch (fieldKind(name)) {
        case F_CONTENT_LENGTH:
          contentLength = parseContentLength(block.slice(colon + 1, end), contentLength);
          if (contentLength === -2) return null;
          break;
        case F_TRANSFER_ENCODING: {
          const v = ows(block.slice(colon + 1, end));
          te = te === null ? v : `${te}, ${v}`;
          break;
        }
        case F_CONNECTION: {
          const k = closeToken(block.slice(colon + 1, end));
          if (k === null) return null;
          close ||= k;
          drop = true;
          break;
        }
        case F_HOP:
        case F_UPGRADE:
          drop = true;
          break;
        case F_CONTENT_TYPE:
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
  const bodyMode = responseBodyMode(method, status, te, contentLength);
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
