// Pause and maintenance on the request path. While a route table says `paused`, a user's new request
// waits here (its connection or stream stops reading) until a table without the pause arrives, when
// the waiting requests go on in the order they came, or until the pause's timeout, when it gets 503.
// While a table says `maintenance`, a user's request gets the maintenance page (503, Retry-After).
// Exchanges already running are not touched by either, and preview traffic (the preview listener,
// the preview token) goes on: gates and the operator can still reach the slots.
// No timers: the router's sweep calls sweep() with the time, as for every other deadline.
import type { RequestHead } from './http1.ts';
import { maintenancePage, ownPage, type Page, type PagesConfig } from './pages.ts';
import { hasPreviewToken, type RoutingPolicy } from './routing.ts';
import type { RouteTable } from './table.ts';

/** A request that can wait: an HTTP/1.1 connection (conn.ts) or an HTTP/2 stream (edge/listener.ts). */
export interface Holdable {
  /** Goes on now, under the route table of this moment. */
  unhold(): void;
  /** Is answered with a page of the router's own instead. */
  answerHeld(page: Page): void;
  /** The client went away while waiting. */
  gone(): boolean;
}

/** Requests one router holds at most; beyond it a new one gets 503 at once (each holds a socket and its head). */
export const MAX_HELD = 10_000;

interface Held {
  h: Holdable;
  deadline: number;
  timeout: number;
}

/** Whether `req` is a user's request the table holds (paused or maintenance), not preview traffic. */
export function mustHold(table: RouteTable, req: RequestHead, policy: RoutingPolicy, previewListener: boolean): boolean {
  if (!table.held || previewListener) return false;
  return table.previewPool === null || !hasPreviewToken(req, table, policy);
}

export class HoldQueue {
  private items: Held[] = [];
  private readonly pages: PagesConfig | undefined;
  /** The maintenance page of the message last seen, so a page is built once per message, not per request. */
  private page: { message: string | null; page: Page } | null = null;

  constructor(pages: PagesConfig | undefined) {
    this.pages = pages;
  }

  get size(): number {
    return this.items.length;
  }

  /** Takes a held request under `table` (paused or in maintenance): it waits, or is answered now. */
  take(h: Holdable, table: RouteTable, now: number): void {
    const spec = table.spec;
    if (spec.maintenance) return h.answerHeld(this.maintenance(spec.maintenance.message));
    const timeout = spec.paused?.timeout ?? 0;
    if (this.items.length >= MAX_HELD) {
      return h.answerHeld(
        ownPage(this.pages, 503, `service paused: ${MAX_HELD} requests already wait for it to resume; try again shortly`),
      );
    }
    this.items.push({ h, deadline: now + timeout, timeout });
  }

  /** A new route table: resumed, the waiting requests go on in order; in maintenance, they get its page. */
  onTable(table: RouteTable): void {
    const spec = table.spec;
    if (this.items.length === 0 || (spec.paused && !spec.maintenance)) return;
    const list = this.items;
    this.items = [];
    const page = spec.maintenance ? this.maintenance(spec.maintenance.message) : null;
    for (const x of list) {
      if (x.h.gone()) continue;
      if (page !== null) x.h.answerHeld(page);
      else x.h.unhold();
    }
  }

  /** Answers 503 to requests that waited past the pause's timeout, and forgets those whose client left. */
  sweep(now: number): void {
    if (this.items.length === 0) return;
    const keep: Held[] = [];
    for (const x of this.items) {
      if (x.h.gone()) continue;
      if (now < x.deadline) keep.push(x);
      else x.h.answerHeld(ownPage(this.pages, 503, `service paused: it did not resume within ${x.timeout} ms; try again shortly`));
    }
    this.items = keep;
  }

  /** The router stops: whoever still waits is told so. */
  close(): void {
    const list = this.items;
    this.items = [];
    for (const x of list) if (!x.h.gone()) x.h.answerHeld(ownPage(this.pages, 503, 'service paused and stopping; try again shortly'));
  }

  private maintenance(message: string | null): Page {
    if (this.page === null || this.page.message !== message) this.page = { message, page: maintenancePage(this.pages, message) };
    return this.page.page;
  }
}
