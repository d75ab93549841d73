// The store's events as they are written, for whoever follows them: the SSE stream at
// /api/v1/events, the webhooks and the dashboard. The store has no push, and a fleet's controller
// may be another process, so the feed reads what is new every `interval` from its first listener on
// (also while nobody listens then, so a later listener never gets a backlog replayed).
import type http from 'node:http';
import type { Logger } from '../log.ts';
import type { Store, StoreEvent } from '../store/types.ts';
import type { Ctx, Route } from './routes.ts';

/** How often the store is asked for new events while anyone listens. */
export const FEED_INTERVAL = 200;
/** Events read per store call. */
const PAGE = 500;
/** SSE: a comment this often keeps proxies and browsers from closing an idle stream. */
const HEARTBEAT = 15_000;
/** SSE: a client this far behind is dropped (it reconnects with Last-Event-ID and catches up). */
const MAX_BACKLOG = 1 << 20;

export type Listener = (e: StoreEvent) => void;

export class EventFeed {
  private readonly store: Store;
  private readonly log: Logger;
  private readonly interval: number;
  private readonly listeners = new Set<Listener>();
  private lastSeq = -1;
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  private closed = false;

  constructor(store: Store, log: Logger, interval = FEED_INTERVAL) {
    this.store = store;
    this.log = log;
    this.interval = interval;
  }

  /** Starts following from the newest event now: whatever is written after this is handed out. */
  async start(): Promise<void> {
    await this.position();
    this.schedule();
  }

  /** Calls `fn` with every event written from now on, in seq order; returns the unsubscribe. */
  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    this.schedule();
    return () => {
      this.listeners.delete(fn);
    };
  }

  /** The seq of the newest event the feed has handed out (or found at its start). */
  async position(): Promise<number> {
    if (this.lastSeq < 0) this.lastSeq = (await this.store.events({ order: 'desc', limit: 1 }))[0]?.seq ?? 0;
    return this.lastSeq;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.listeners.clear();
  }

  private schedule(delay = this.interval): void {
    if (this.timer !== null || this.polling || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.poll();
    }, delay);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    this.polling = true;
    let full = false;
    try {
      const after = await this.position();
      const events = await this.store.events({ afterSeq: after, limit: PAGE });
      full = events.length === PAGE;
      for (const e of events) {
        this.lastSeq = e.seq;
        for (const fn of this.listeners) {
          try {
            fn(e);
          } catch (err) {
            this.log.error('an event listener failed', { err, seq: e.seq });
          }
        }
      }
    } catch (err) {
      this.log.warn('cannot read new events; trying again', { err });
    } finally {
      this.polling = false;
    }
    this.schedule(full ? 0 : this.interval);
  }
}

/** One event as an SSE message: its seq is the id a reconnecting client sends back. */
/** Whether `e` is the audit entry of a successful revoke of the token `tokenId`. */
export function revokes(e: StoreEvent, tokenId: string | null): boolean {
  if (tokenId === null || e.type !== 'audit') return false;
  const d = e.data as { method?: unknown; path?: unknown; status?: unknown };
  return d.method === 'DELETE' && d.path === `/api/v1/tokens/${tokenId}` && d.status === 200;
}

export function sseMessage(e: StoreEvent): string {
  return `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
}

/**
 * GET /api/v1/events: server-sent events, from now on, or after `Last-Event-ID` (or `?after=`) when
 * given; `?service=` and `?types=phase,switch` narrow it.
 */
export function eventsRoute(feed: EventFeed, store: Store): Route {
  return {
    method: 'GET',
    path: '/api/v1/events',
    role: 'viewer',
    summary:
      'server-sent events: release phases, gates, analysis, route changes (switch), target health and the audit log, as they are written',
    handler: async () => null,
    stream: (req, res, ctx) => void stream(feed, store, req, res, ctx),
  };
}

async function stream(feed: EventFeed, store: Store, req: http.IncomingMessage, res: http.ServerResponse, ctx: Ctx): Promise<void> {
  const service = ctx.query.get('service');
  const types = ctx.query.get('types')?.split(',').filter(Boolean) ?? null;
  const wanted = (e: StoreEvent): boolean => (service === null || e.service === service) && (types === null || types.includes(e.type));
  const resumeFrom = Number(req.headers['last-event-id'] ?? ctx.query.get('after') ?? NaN);

  // Where to start: after the client's last event, else after the newest one now.
  let after: number;
  try {
    after = Number.isInteger(resumeFrom) && resumeFrom >= 0 ? resumeFrom : await feed.position();
  } catch (err) {
    res.destroy(err as Error);
    return;
  }
  let sent = after;
  let live = false;
  const buffered: StoreEvent[] = [];
  const write = (e: StoreEvent): void => {
    if (e.seq <= sent) return;
    sent = e.seq;
    if (!wanted(e)) return;
    res.write(sseMessage(e));
    if (res.writableLength > MAX_BACKLOG) res.destroy();
  };
  // Subscribed before the catch-up read, so nothing written in between is lost; seq removes doubles.
  const unsubscribe = feed.subscribe((e) => {
    // The stream of a token that has been revoked ends: its next connection is refused (401).
    if (revokes(e, ctx.caller.tokenId)) {
      res.end();
      req.socket.destroy();
      return;
    }
    if (live) write(e);
    else buffered.push(e);
  });
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT);
  req.socket.setTimeout(0);
  res.on('close', () => {
    unsubscribe();
    clearInterval(heartbeat);
  });
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  try {
    for (;;) {
      const page = await store.events({ afterSeq: after, limit: PAGE });
      for (const e of page) write(e);
      if (page.length < PAGE) break;
      after = page.at(-1)!.seq;
    }
  } catch (err) {
    res.destroy(err as Error);
    return;
  }
  live = true;
  for (const e of buffered.splice(0)) write(e);
}
