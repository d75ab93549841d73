// Routing policy: which slot's pool a request goes to, decided from the route table and the request
// head alone (preview token by header or cookie, the preview listener, the sticky cookie of a
// progressive shift, the weights, and whether a copy goes to the mirror slot). No socket, no I/O:
// the connection passes in the table it chose for this request and a source of randomness.
import { cookieValue, type RequestHead } from './http1.ts';
import { BODY_NONE } from './rules.ts';
import type { SlotPool } from './pool.ts';
import type { RouteTable } from './table.ts';

/** The cookie names and attributes the policy reads and writes (from the router's options). */
export interface RoutingPolicy {
  previewCookie: string;
  stickyCookie: string;
  /** Attributes of the sticky cookie (`Path=/; HttpOnly; SameSite=Lax`). */
  stickyAttributes: string;
}

/**
 * What `route` decided. A connection keeps one and passes it in for every request, so deciding
 * allocates nothing (except the Set-Cookie line that pins a client during a shift).
 */
export interface RouteChoice {
  /** The pool that serves the request, or null when the router answers 503 itself. */
  pool: SlotPool | null;
  /** Why there is no pool (the 503's body), '' when there is one. */
  refusal: string;
  /** A `set-cookie: ...\r\n` line for the response, or null. */
  setCookie: string | null;
  /** The pool a copy of this request goes to (answer discarded), or null. */
  mirror: SlotPool | null;
}

export function emptyChoice(): RouteChoice {
  return { pool: null, refusal: '', setCookie: null, mirror: null };
}

export const NO_RELEASE_IN_PREVIEW = 'no release in preview: this listener shows the idle slot while a release is verified';
export const NO_RELEASE_YET = 'no release yet: this service has no live slot';
export const NO_LIVE_SLOT = 'no live slot';

/**
 * Decides where `req` goes under `table`. `previewListener` is true on the preview listener, where
 * every request goes to the slot in preview. `random` returns a number in [0, 1) (Math.random in
 * production, a fixed sequence in tests). Writes the decision into `out` and returns it.
 */
export function route(
  table: RouteTable,
  req: RequestHead,
  policy: RoutingPolicy,
  previewListener: boolean,
  random: () => number,
  out: RouteChoice,
): RouteChoice {
  out.setCookie = null;
  out.mirror = null;
  out.refusal = '';
  let pool: SlotPool | null;
  if (table.previewPool !== null && (previewListener || hasPreviewToken(req, table, policy))) pool = table.previewPool;
  else if (previewListener) pool = null;
  else if (table.only !== null) pool = table.only;
  else if (table.hasTraffic) pool = weightedPick(req, table, policy, random, out);
  else pool = null;
  out.pool = pool;
  if (pool === null) {
    out.refusal = previewListener ? NO_RELEASE_IN_PREVIEW : table.spec.live === null ? NO_RELEASE_YET : NO_LIVE_SLOT;
    return out;
  }
  if (table.mirrorPool !== null && pool !== table.mirrorPool && mirrorable(req) && random() < table.mirrorShare) {
    out.mirror = table.mirrorPool;
  }
  return out;
}

/** Only idempotent requests without a body are copied: a copy must not change anything twice. */
function mirrorable(req: RequestHead): boolean {
  return req.bodyMode === BODY_NONE && req.upgrade === null && (req.method === 'GET' || req.method === 'HEAD');
}

/** The request carries the release's preview token, in the preview header or cookie. */
export function hasPreviewToken(req: RequestHead, table: RouteTable, policy: RoutingPolicy): boolean {
  if (req.routeHeader !== null) return sameSecret(req.routeHeader, table.previewToken);
  if (req.cookie === null) return false;
  const v = cookieValue(req.cookie, policy.previewCookie);
  return v !== null && sameSecret(v, table.previewToken);
}

/**
 * Compares a candidate with the secret in time that depends only on the secret's length, so the
 * answer's timing tells nothing about how much of a guess was right. Allocates nothing.
 */
export function sameSecret(candidate: string, secret: string): boolean {
  const n = secret.length;
  let diff = candidate.length ^ n;
  for (let i = 0; i < n; i++) diff |= (candidate.charCodeAt(i % (candidate.length || 1)) | 0) ^ secret.charCodeAt(i);
  return diff === 0 && n > 0;
}

/** A progressive shift: the pinned slot from the sticky cookie, or a weighted draw that gets pinned. */
function weightedPick(req: RequestHead, table: RouteTable, policy: RoutingPolicy, random: () => number, out: RouteChoice): SlotPool {
  const prefix = table.stickyPrefix;
  if (prefix !== '' && req.cookie !== null) {
    const v = cookieValue(req.cookie, policy.stickyCookie);
    if (v?.startsWith(prefix)) {
      const slot = v.slice(prefix.length);
      if (slot === 'blue' && table.spec.weights.blue > 0) return table.blue;
      if (slot === 'green' && table.spec.weights.green > 0) return table.green;
    }
  }
  const pool = random() < table.blueShare ? table.blue : table.green;
  if (prefix !== '') out.setCookie = `set-cookie: ${policy.stickyCookie}=${prefix}${pool.slot}; ${policy.stickyAttributes}\r\n`;
  return pool;
}
