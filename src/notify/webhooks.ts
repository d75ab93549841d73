// Webhooks: release events POSTed as JSON with a Slack-compatible `text`, signed with HMAC-SHA256
// when a secret is configured, retried with backoff. A delivery runs beside the release and never
// waits on it or fails it: the worst a broken receiver does is fill the log.
import { createHmac, randomUUID } from 'node:crypto';
import type { WebhookConfig, WebhookEvent } from '../config/types.ts';
import { CutoverError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ReleaseRecord, StoreEvent } from '../store/types.ts';
import { keepSecretEnv, keepSecretValue } from '../secrets.ts';

export const SIGNATURE_HEADER = 'x-cutover-signature';
export const DEFAULT_RETRY = { attempts: 6, baseMs: 1000, maxMs: 60_000, timeoutMs: 10_000 };
/** Deliveries waiting per webhook; past this the oldest are dropped (and logged), not memory. */
const MAX_PENDING = 200;

export interface RetryOptions {
  /** Tries in all, the first included. */
  attempts: number;
  /** The wait before the second try; it doubles (with jitter) up to maxMs. */
  baseMs: number;
  maxMs: number;
  /** Each try's own limit. */
  timeoutMs: number;
}

export interface WebhookBody {
  /** What Slack (and Mattermost, Discord's /slack endpoint, Teams' incoming webhooks) show. */
  text: string;
  event: WebhookEvent;
  service: string;
  release: { id: string; version: string | null; slot: string | null; fromSlot: string | null; phase: string | null } | null;
  reason: string;
  actor: string;
  time: string;
  /** The store's event seq: unique and ordered; receivers can drop doubles with it. */
  seq: number;
}

/** The webhook event a store event is, if any. */
export function webhookEventOf(e: StoreEvent): WebhookEvent | null {
  if (e.type === 'phase') {
    switch (e.phase) {
      case 'pending':
        return 'release-started';
      case 'promoted':
      case 'rolled-back':
      case 'retired':
      case 'failed':
      case 'aborted':
        return e.phase;
      default:
        return null;
    }
  }
  if (e.type === 'gate') {
    const outcome = (e.data.result as { outcome?: unknown } | undefined)?.outcome;
    return typeof outcome === 'string' && outcome !== 'passed' ? 'gate-failed' : null;
  }
  if (e.type === 'hook') return e.data.ok === false ? 'hook-failed' : null;
  if (e.type === 'certificate') return e.data.outcome === 'failed' ? 'certificate-failed' : null;
  if (e.type === 'analysis') {
    const verdict = e.data.kind === 'outcome' ? (e.data.outcome as { verdict?: unknown } | undefined)?.verdict : undefined;
    return verdict === 'fail' ? 'analysis-failed' : null;
  }
  return null;
}

const ICON: Record<WebhookEvent, string> = {
  'release-started': ':rocket:',
  'gate-failed': ':no_entry:',
  'analysis-failed': ':chart_with_downwards_trend:',
  promoted: ':white_check_mark:',
  'rolled-back': ':rewind:',
  retired: ':wastebasket:',
  failed: ':x:',
  aborted: ':octagonal_sign:',
  'hook-failed': ':warning:',
  'certificate-failed': ':lock:',
};

export function webhookBody(event: WebhookEvent, e: StoreEvent, release: ReleaseRecord | null): WebhookBody {
  const v = release ? ` ${release.version}` : '';
  const what: Record<WebhookEvent, string> = {
    'release-started': `release of${v} started${release ? ` into ${release.slot}` : ''}`,
    'gate-failed': `a gate failed for${v}`,
    'hook-failed': `a hook failed for${v}`,
    'certificate-failed': `an ACME certificate could not be obtained for ${String(e.data.host ?? 'a host')}`,
    'analysis-failed': `analysis failed for${v}`,
    promoted: `${v.trim() || 'the release'} is live${release ? ` on ${release.slot}` : ''}`,
    'rolled-back': `release of${v} rolled back${release?.fromSlot ? `: traffic is on ${release.fromSlot} again` : ''}`,
    retired: `release of${v} retired: the old slot is stopped`,
    failed: `release of${v} failed before traffic moved`,
    aborted: `release of${v} aborted before traffic moved`,
  };
  const reason = e.reason.split('\n')[0] ?? '';
  return {
    text: `${ICON[event]} *${e.service}*: ${what[event]} (${e.actor})${reason ? ` - ${reason}` : ''}`,
    event,
    service: e.service,
    release: release
      ? { id: release.id, version: release.version, slot: release.slot, fromSlot: release.fromSlot, phase: e.phase ?? release.phase }
      : null,
    reason: e.reason,
    actor: e.actor,
    time: e.time,
    seq: e.seq,
  };
}

/** `sha256=<hex>` of the exact body bytes, like GitHub's X-Hub-Signature-256. */
export function sign(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

interface Hook {
  cfg: WebhookConfig;
  /** The key, read from the environment once at start. */
  key: string | null;
  pending: number;
}

export interface NotifierOptions {
  log: Logger;
  /** The release an event belongs to (for its version and slots). */
  release: (id: string) => Promise<ReleaseRecord | null>;
  retry?: Partial<RetryOptions>;
  env?: NodeJS.ProcessEnv;
}

export class WebhookNotifier {
  private readonly hooks: Hook[];
  private readonly log: Logger;
  private readonly release: NotifierOptions['release'];
  private readonly retry: RetryOptions;
  private readonly stop = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();

  /** Refuses to start when a webhook's secret names an unset environment variable. */
  constructor(webhooks: WebhookConfig[], opts: NotifierOptions) {
    const env = opts.env ?? process.env;
    this.log = opts.log.child({ component: 'webhooks' });
    this.release = opts.release;
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.hooks = webhooks.map((cfg, i) => {
      if (cfg.secret === undefined) return { cfg, key: null, pending: 0 };
      const key = env[cfg.secret];
      if (key === undefined || key === '') {
        throw new CutoverError(
          'CUTOVER_E_CONFIG_INVALID',
          `notifications.webhooks[${i}].secret: the environment variable ${cfg.secret} is not set; export the webhook's signing key as ${cfg.secret} before \`cutover up\``,
          400,
        );
      }
      // The signing key is cutover's own: no replica, gate, migration or hook gets the variable, and
      // its value is cut out of what they print. Done here, before the daemon starts any child.
      keepSecretEnv(cfg.secret);
      keepSecretValue(key);
      return { cfg, key, pending: 0 };
    });
  }

  get size(): number {
    return this.hooks.length;
  }

  /** Takes one store event; returns at once. */
  handle(e: StoreEvent): void {
    const event = webhookEventOf(e);
    if (event === null) return;
    const hooks = this.hooks.filter((h) => h.cfg.events.includes(event));
    if (hooks.length === 0) return;
    this.track(
      (async () => {
        const release = e.releaseId ? await this.release(e.releaseId).catch(() => null) : null;
        const body = JSON.stringify(webhookBody(event, e, release));
        for (const h of hooks) this.track(this.deliver(h, event, body));
      })(),
    );
  }

  /** Stops retrying and waits for the tries under way to end. */
  async close(): Promise<void> {
    this.stop.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  private track(p: Promise<void>): void {
    const q = p.catch((err) => this.log.error('webhook delivery failed', { err }));
    this.inFlight.add(q);
    void q.finally(() => this.inFlight.delete(q));
  }

  private async deliver(h: Hook, event: WebhookEvent, body: string): Promise<void> {
    if (h.pending >= MAX_PENDING) {
      this.log.warn('webhook receiver is behind; dropping an event', { url: redactUrl(h.cfg.url), event });
      return;
    }
    h.pending++;
    const id = randomUUID();
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'cutover-webhooks',
      'x-cutover-event': event,
      'x-cutover-delivery': id,
    };
    if (h.key !== null) headers[SIGNATURE_HEADER] = sign(h.key, body);
    try {
      for (let attempt = 1; ; attempt++) {
        let problem: string;
        try {
          const res = await fetch(h.cfg.url, {
            method: 'POST',
            headers: { ...headers, 'x-cutover-attempt': String(attempt) },
            body,
            redirect: 'error',
            signal: AbortSignal.any([this.stop.signal, AbortSignal.timeout(this.retry.timeoutMs)]),
          });
          await res.body?.cancel();
          if (res.ok) {
            this.log.info('webhook delivered', { url: redactUrl(h.cfg.url), event, delivery: id, attempt });
            return;
          }
          problem = `answered ${res.status}`;
          if (res.status < 500 && res.status !== 429 && res.status !== 408) {
            this.log.warn('webhook refused; not retrying', { url: redactUrl(h.cfg.url), event, delivery: id, status: res.status });
            return;
          }
        } catch (err) {
          if (this.stop.signal.aborted) return;
          problem = (err as Error).message;
        }
        if (attempt >= this.retry.attempts) {
          this.log.error('webhook not delivered; giving up', {
            url: redactUrl(h.cfg.url),
            event,
            delivery: id,
            attempts: attempt,
            problem,
          });
          return;
        }
        const wait = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4);
        this.log.warn('webhook failed; retrying', {
          url: redactUrl(h.cfg.url),
          event,
          delivery: id,
          attempt,
          problem,
          retryInMs: Math.round(wait),
        });
        if (!(await sleep(wait, this.stop.signal))) return;
      }
    } finally {
      h.pending--;
    }
  }
}

/** A webhook URL often carries its secret in the path (Slack's do): logs show only the host. */
function redactUrl(url: string): string {
  try {
    return `${new URL(url).origin}/...`;
  } catch {
    return '(bad url)';
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
