// The router's own answers (no upstream took the request): its error pages per status and the
// maintenance page, as the config gives them (`errorPages`, `maintenance`), else plain text. The page
// files are read when the config is loaded, so answering never touches the disk; the same page goes
// out over HTTP/1.1 and HTTP/2. To a HEAD request a page goes out without its body but with the
// header fields a GET gets, Content-Length included (RFC 9110 9.3.2), so a keep-alive connection
// stays in step for its next request.
import { errorResponse } from './http1.ts';

/** What the config gives the router for its own answers (serialisable: it reaches worker processes). */
export interface PagesConfig {
  /** By status (`"502"`): the page's body as read from its file, and its content type. */
  errors: Record<string, { body: string; contentType: string }>;
  maintenance: {
    /** The page's body; `{{message}}` in it is replaced by the message of `cutover maintenance --message`. */
    body: string;
    contentType: string;
    /** Seconds, sent as Retry-After. */
    retryAfter: number;
    /** Shown when `cutover maintenance on` gives no message. */
    message: string;
  };
}

/** An answer of the router's own, for either protocol. */
export interface Page {
  status: number;
  contentType: string;
  body: Buffer;
  /** More header fields, lower-case names (retry-after). */
  extra: [string, string][];
}

export const DEFAULT_MAINTENANCE_MESSAGE = 'This service is down for maintenance and will be back shortly.';

export const DEFAULT_MAINTENANCE_PAGE =
  '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Down for maintenance</title></head>\n' +
  '<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto"><h1>Down for maintenance</h1><p>{{message}}</p></body></html>\n';

/** The maintenance settings when the config says nothing: the page above, Retry-After 300 s. */
export const DEFAULT_MAINTENANCE: PagesConfig['maintenance'] = {
  body: DEFAULT_MAINTENANCE_PAGE,
  contentType: 'text/html; charset=utf-8',
  retryAfter: 300,
  message: DEFAULT_MAINTENANCE_MESSAGE,
};

const REASONS: Record<number, string> = {
  408: 'Request Timeout',
  413: 'Content Too Large',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The statuses the router answers itself and an `errorPages` entry may replace. */
export const PAGE_STATUSES = [400, 404, 408, 413, 421, 429, 431, 500, 502, 503, 504] as const;

/** The answer for `status`: the configured page, or the reason as plain text. */
export function ownPage(pages: PagesConfig | undefined, status: number, reason: string): Page {
  const p = pages?.errors[status];
  if (p !== undefined) return { status, contentType: p.contentType, body: Buffer.from(p.body), extra: [] };
  return { status, contentType: 'text/plain; charset=utf-8', body: Buffer.from(`${reason}\n`), extra: [] };
}

/** The maintenance page with its message (HTML-escaped into an HTML page). */
export function maintenancePage(pages: PagesConfig | undefined, message: string | null): Page {
  const m = pages?.maintenance ?? DEFAULT_MAINTENANCE;
  const text = message ?? m.message;
  const html = m.contentType.startsWith('text/html');
  const body = m.body.replaceAll('{{message}}', html ? escapeHtml(text) : text);
  return { status: 503, contentType: m.contentType, body: Buffer.from(body), extra: [['retry-after', String(m.retryAfter)]] };
}

/**
 * A page as HTTP/1.1 bytes, in a latin1 string (the body's UTF-8 bytes one per character), as conn.ts
 * writes; the head alone when it answers a HEAD request.
 */
export function http1Page(page: Page, close: boolean, head = false): string {
  let lines = `HTTP/1.1 ${page.status} ${REASONS[page.status] ?? 'Error'}\r\ncontent-type: ${page.contentType}\r\ncontent-length: ${page.body.length}\r\nx-cutover-error: 1\r\n`;
  for (const [k, v] of page.extra) lines += `${k}: ${v}\r\n`;
  if (close) lines += 'connection: close\r\n';
  return head ? `${lines}\r\n` : `${lines}\r\n${page.body.toString('latin1')}`;
}

/**
 * The router's own HTTP/1.1 answer to a request no upstream took: the configured error page for
 * `status` when there is one, else errorResponse's plain text. `reason` goes to clients only as plain
 * text. `head`: the request was HEAD, so the answer is the head a GET would get, without the body.
 */
export function ownResponse(pages: PagesConfig | undefined, status: number, reason: string, close: boolean, head = false): string {
  if (pages?.errors[status] !== undefined) return http1Page(ownPage(pages, status, reason), close, head);
  const text = errorResponse(status, reason, close);
  return head ? text.slice(0, text.indexOf('\r\n\r\n') + 4) : text;
}

/** The page's HTTP/2 header fields. */
export function h2PageHeaders(page: Page): Record<string, string | number> {
  const h: Record<string, string | number> = {
    ':status': page.status,
    'content-type': page.contentType,
    'content-length': page.body.length,
    'x-cutover-error': '1',
  };
  for (const [k, v] of page.extra) h[k] = v;
  return h;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
