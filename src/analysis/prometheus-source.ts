// Prometheus as a metric source: one PromQL instant query per rule (`/api/v1/query`), with
// {{service}}, {{slot}}, {{version}} and {{window}} filled in. A query that fails, times out or
// returns nothing measures nothing: the judge calls that inconclusive, never a pass.
import type { AnalysisRule } from '../config/types.ts';
import type { MeasureWindow, Measurement, MetricSource } from './types.ts';

export type PrometheusSourceOptions = {
  /** Base URL of Prometheus, like http://127.0.0.1:9090. */
  url: string;
  service: string;
  /** Each query is given up after this many ms. */
  timeout?: number;
  now?: () => number;
};

export const DEFAULT_QUERY_TIMEOUT_MS = 5000;
/** Error bodies and messages are cut to this many characters in a measurement. */
const MAX_ERROR_CHARS = 300;

/** Escapes a value for a PromQL double-quoted string, where templates put it (`slot="{{slot}}"`). */
function escapeLabel(v: string): string {
  return v.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n');
}

/** A Prometheus duration for `[{{window}}]`: whole seconds, at least one. */
export function promDuration(ms: number): string {
  return `${Math.max(1, Math.round(ms / 1000))}s`;
}

/** The query with its placeholders filled in; `{{window}}` is the span from `sinceMs` to `now`. */
export function fillQuery(query: string, vars: { service: string; slot: string; version: string; windowMs: number }): string {
  return query.replace(/\{\{\s*(service|slot|version|window)\s*\}\}/g, (_, name: string) => {
    if (name === 'window') return promDuration(vars.windowMs);
    return escapeLabel(vars[name as 'service' | 'slot' | 'version']);
  });
}

type ApiResponse = {
  status?: string;
  errorType?: string;
  error?: string;
  warnings?: string[];
  data?: { resultType?: string; result?: unknown };
};

/** The one number of an instant query's result, or why there is none. */
export function valueOfResult(data: ApiResponse['data']): { value: number | null; samples: number; error?: string } {
  const type = data?.resultType;
  const result = data?.result;
  if (type === 'scalar' && Array.isArray(result)) return sampleValue(result[1]);
  if (type === 'vector' && Array.isArray(result)) {
    if (result.length === 0) return { value: null, samples: 0 };
    if (result.length > 1) {
      return {
        value: null,
        samples: 0,
        error: `the query returned ${result.length} series; aggregate it to one (sum(...), max(...)) or filter by labels`,
      };
    }
    const one = result[0] as { value?: unknown[] } | undefined;
    return sampleValue(one?.value?.[1]);
  }
  return {
    value: null,
    samples: 0,
    error: `the query returned a ${type ?? 'missing'} result; write an instant query that returns one number (a scalar or one series)`,
  };
}

function sampleValue(raw: unknown): { value: number | null; samples: number; error?: string } {
  const v = typeof raw === 'string' ? Number(raw) : NaN;
  if (Number.isFinite(v)) return { value: v, samples: 1 };
  // NaN is what 0/0 gives (no traffic); +Inf is not JSON. Neither is a number to judge.
  return { value: null, samples: 0, error: `the query returned ${String(raw)}, not a finite number` };
}

export class PrometheusSource implements MetricSource {
  private readonly base: string;
  private readonly service: string;
  private readonly timeout: number;
  private readonly now: () => number;

  constructor(opts: PrometheusSourceOptions) {
    this.base = opts.url.replace(/\/+$/, '');
    this.service = opts.service;
    this.timeout = opts.timeout ?? DEFAULT_QUERY_TIMEOUT_MS;
    this.now = opts.now ?? Date.now;
  }

  async measure(rule: AnalysisRule, w: MeasureWindow): Promise<Measurement> {
    const at = this.now();
    const out = (r: { value: number | null; samples: number; error?: string }): Measurement => ({
      rule,
      slot: w.slot,
      value: r.value,
      samples: r.samples,
      ...(r.error !== undefined ? { error: r.error } : {}),
      at: new Date(at).toISOString(),
      from: new Date(w.sinceMs).toISOString(),
    });
    if (rule.query === undefined || rule.query === '')
      return out({ value: null, samples: 0, error: 'the rule has no query; give it one in `query`' });
    const query = fillQuery(rule.query, { service: this.service, slot: w.slot, version: w.version, windowMs: at - w.sinceMs });
    const url = `${this.base}/api/v1/query?${new URLSearchParams({ query, time: String(at / 1000) })}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.timeout), headers: { accept: 'application/json' } });
      text = await res.text();
    } catch (err) {
      const e = err as Error;
      const why = e.name === 'TimeoutError' ? `no answer within ${this.timeout}ms` : describeFetchError(e);
      return out({ value: null, samples: 0, error: `Prometheus at ${this.base}: ${why}` });
    }
    let body: ApiResponse | null = null;
    try {
      body = JSON.parse(text) as ApiResponse;
    } catch {
      // Not JSON: a proxy's error page or the wrong URL; reported below with the status.
    }
    if (body?.status === 'error') {
      return out({
        value: null,
        samples: 0,
        error: cut(`Prometheus rejected \`${query}\` (${body.errorType ?? res.status}): ${body.error ?? 'no message'}`),
      });
    }
    if (!res.ok || body === null || body.status !== 'success') {
      return out({
        value: null,
        samples: 0,
        error: cut(`Prometheus at ${this.base} answered ${res.status}: ${text.trim() || 'an empty body'}; check analysis.prometheus.url`),
      });
    }
    return out(valueOfResult(body.data));
  }
}

function describeFetchError(e: Error): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? e.message;
}

function cut(s: string): string {
  return s.length > MAX_ERROR_CHARS ? `${s.slice(0, MAX_ERROR_CHARS - 3)}...` : s;
}
