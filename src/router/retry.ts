// Retry on standby (`analysis.retryOnStandby`): while a release moves traffic to a new slot, an
// idempotent request that the new slot failed (a 5xx, or no connection) before anything of the
// answer reached the client is sent once more to the standby slot. The failure still counts for the
// new slot, so analysis sees it and rolls back; the user gets the old version's answer instead.
// A token bucket per route table bounds the retries per second, so a broken version cannot double
// the old slot's load. Decided from the route table and the request head alone (no I/O here); the
// connection (conn.ts, or edge/h2.ts for an HTTP/2 stream) does the resending.
import type { SlotName } from '../config/types.ts';
import type { RequestHead } from './http1.ts';
import type { SlotPool, Target } from './pool.ts';

/** What the controller puts in the route spec while a release shifts or observes. */
export interface RetrySpec {
  /** The new slot, whose failed answers are retried. */
  from: SlotName;
  /** The standby slot that takes the retries. */
  to: SlotName;
  /** At most this many retries a second in this router process (a burst of one second's worth). */
  perSecond: number;
  /** Lower-case header that marks another method as safe to send twice (`idempotency-key`), or null. */
  header: string | null;
}

/** Budget of retries: a token bucket refilled at `perSecond`, holding at most one second's worth. */
export class RetryBudget {
  readonly perSecond: number;
  private tokens: number;
  private last: number;
  /** Retries made, and retries refused because the budget was spent: for tests and diagnostics. */
  retried = 0;
  refused = 0;

  constructor(perSecond: number, now: number) {
    this.perSecond = perSecond;
    this.tokens = perSecond;
    this.last = now;
  }

  /** Takes one retry if the budget has one at `now` (ms, performance.now()). */
  take(now: number): boolean {
    const refill = ((now - this.last) * this.perSecond) / 1000;
    if (refill > 0) {
      this.tokens = Math.min(this.perSecond, this.tokens + refill);
      this.last = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.retried++;
      return true;
    }
    this.refused++;
    return false;
  }
}

/** The retry rule of one route table: built with it, read by every request to `from`. */
export interface RetryRule {
  readonly from: SlotPool;
  readonly to: SlotPool;
  /** `\r\n<header>:`, to find the marking header in a request head's lines; '' when none is named. */
  readonly marker: string;
  readonly budget: RetryBudget;
}

/**
 * The rule for a table, or null when the spec asks for none. `previous` is the table before: its
 * budget carries over when the rule is the same, so a new generation does not refill it.
 */
export function retryRule(
  spec: RetrySpec | null | undefined,
  blue: SlotPool,
  green: SlotPool,
  previous: RetryRule | null,
  now: number,
): RetryRule | null {
  if (!spec || spec.from === spec.to || !(spec.perSecond > 0)) return null;
  const from = spec.from === 'blue' ? blue : green;
  const to = spec.to === 'blue' ? blue : green;
  const budget = previous !== null && previous.budget.perSecond === spec.perSecond ? previous.budget : new RetryBudget(spec.perSecond, now);
  return { from, to, marker: spec.header ? `\r\n${spec.header.toLowerCase()}:` : '', budget };
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Whether a request that `pool` serves may be retried on the standby slot under `rule`: it goes to
 * the new slot, is no upgrade, and is idempotent (GET, HEAD, OPTIONS, or marked by the header).
 * Whether its body can be sent again is the connection's to say (empty, or held whole).
 */
export function retryable(rule: RetryRule, pool: SlotPool, req: RequestHead): boolean {
  if (pool !== rule.from || req.upgrade !== null) return false;
  if (SAFE.has(req.method)) return true;
  return rule.marker !== '' && `\r\n${req.forwardLines}`.toLowerCase().includes(rule.marker);
}

/**
 * Where a failed request goes for its one retry: a healthy standby target, if the budget has a retry
 * left at `now` (ms, performance.now()); null when either is missing, and then the failure stands.
 */
export function retryTarget(rule: RetryRule, now: number): Target | null {
  const target = rule.to.pick();
  return target !== null && rule.budget.take(now) ? target : null;
}
