// Small pieces every gate shares: a deadline that also follows the release's abort signal, keeping the
// preview token out of results, and short readable numbers and excerpts.

/** What stands in for the preview token wherever a gate would otherwise show it. */
export const REDACTED = '[preview token]';

/**
 * Tokens shorter than this are not searched for: replacing a few common letters everywhere would
 * garble every result, and such a token is guessable anyway. The controller makes long random ones.
 */
export const MIN_REDACTED_LENGTH = 8;

/** `value` with every occurrence of `secret` in its strings replaced, however deep (keys are ours, left as they are). */
export function redact<T>(value: T, secret: string): T {
  if (secret.length < MIN_REDACTED_LENGTH) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return v.includes(secret) ? v.split(secret).join(REDACTED) : v;
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x);
      return out;
    }
    return v;
  };
  return walk(value) as T;
}

export interface Deadline {
  /** Aborts at the deadline or when the parent signal aborts. */
  signal: AbortSignal;
  /** Why it ended, once it has. */
  reason(): 'timeout' | 'aborted' | null;
  clear(): void;
}

/** A signal that fires after `ms`, or with `parent`; `reason()` tells which. */
export function deadline(ms: number, parent?: AbortSignal): Deadline {
  const ctl = new AbortController();
  let why: 'timeout' | 'aborted' | null = null;
  const timer = setTimeout(() => {
    why ??= 'timeout';
    ctl.abort(new Error('gate timed out'));
  }, ms);
  const onAbort = (): void => {
    why ??= 'aborted';
    ctl.abort(new Error('release aborted'));
  };
  if (parent?.aborted) onAbort();
  else parent?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: ctl.signal,
    reason: () => why,
    clear: () => {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onAbort);
    },
  };
}

/** Milliseconds as a person reads them: 850 ms, 2.5 s, 5m, 1h30m. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  if (m < 60) return s === 0 ? `${m}m` : `${m}m${s}s`;
  const h = Math.floor(m / 60);
  return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
}

/** A string cut to `max` characters, saying so. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** A share as a percentage with enough digits to tell 0.9% from 1%. */
export function percent(share: number): string {
  return `${Number((share * 100).toFixed(2))}%`;
}
