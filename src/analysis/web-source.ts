// Any HTTP API that answers JSON as a metric source (`metric: web`): Datadog's query API, New
// Relic's NerdGraph, a CloudWatch proxy. The rule's URL (and POST body) are templates filled with the
// service, slot, version and window; an RFC 9535 JSONPath picks the one number to judge. Header
// values may name environment variables (`${DD_API_KEY}`), read when the request is made, and their
// values never appear in a measurement (errors are cut of them); the URL is shown only as host and
// path, since its query string may carry a key. Like Prometheus: a failure, a timeout or no value
// measures nothing, which the judge calls inconclusive, never a pass.
import { query } from 'jsonpath-rfc9535';
import type { AnalysisRule } from '../config/types.ts';
import { webWhere } from './judge.ts';
import { promDuration } from './prometheus-source.ts';
import type { MeasureWindow, Measurement, MetricSource } from './types.ts';

export type WebSourceOptions = {
  service: string;
  /** Where `${NAME}` in header values is looked up; the daemon's environment by default. */
  env?: NodeJS.ProcessEnv;
  now?: () => number;
};

export const DEFAULT_WEB_TIMEOUT_MS = 5000;
const MAX_ERROR_CHARS = 300;
const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export type WebVars = { service: string; slot: string; version: string; startMs: number; endMs: number };

/** The template with {{service}}, {{slot}}, {{version}}, {{window}}, {{windowSeconds}}, {{start}}, {{end}} filled in, each value passed through `escape`. */
export function fillTemplate(template: string, v: WebVars, escape: (s: string) => string): string {
  const windowMs = Math.max(0, v.endMs - v.startMs);
  const values: Record<string, string> = {
    service: v.service,
    slot: v.slot,
    version: v.version,
    window: promDuration(windowMs),
    windowSeconds: String(Math.max(1, Math.round(windowMs / 1000))),
    start: String(Math.floor(v.startMs / 1000)),
    end: String(Math.ceil(v.endMs / 1000)),
  };
  return template.replace(/\{\{\s*(service|slot|version|window|windowSeconds|start|end)\s*\}\}/g, (_, name: string) =>
    escape(values[name] as string),
  );
}

/** A value for inside a JSON string literal (a POST body's placeholders sit in its strings). */
function jsonEscape(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

/** Header values with `${NAME}` replaced from `env`; the secrets used, to cut from errors; or which variable is missing. */
export function expandHeaders(
  headers: Record<string, string>,
  env: NodeJS.ProcessEnv,
): { headers: Record<string, string>; secrets: string[] } | { missing: string; header: string } {
  const out: Record<string, string> = {};
  const secrets: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    let missing: string | null = null;
    out[name] = value.replace(ENV_REF, (_, v: string) => {
      const found = env[v];
      if (found === undefined || found === '') {
        missing ??= v;
        return '';
      }
      secrets.push(found);
      return found;
    });
    if (missing !== null) return { missing, header: name };
  }
  return { headers: out, secrets };
}

/** The one number `jsonPath` picks from `doc`, or why there is none. */
export function pick(doc: unknown, jsonPath: string): { value: number | null; samples: number; error?: string } {
  let found: unknown[];
  try {
    found = query(doc as Parameters<typeof query>[0], jsonPath);
  } catch (err) {
    return { value: null, samples: 0, error: `jsonPath ${jsonPath} is not a JSONPath: ${(err as Error).message}` };
  }
  if (found.length === 0 || (found.length === 1 && found[0] === null)) return { value: null, samples: 0 };
  if (found.length > 1) {
    return { value: null, samples: 0, error: `jsonPath ${jsonPath} picked ${found.length} values; make it pick one, like [0] or [-1]` };
  }
  const raw = found[0];
  const v = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (Number.isFinite(v)) return { value: v, samples: 1 };
  return { value: null, samples: 0, error: `jsonPath ${jsonPath} picked ${cut(JSON.stringify(raw) ?? String(raw))}, not a number` };
}

export class WebSource implements MetricSource {
  private readonly service: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly now: () => number;

  constructor(opts: WebSourceOptions) {
    this.service = opts.service;
    this.env = opts.env ?? process.env;
    this.now = opts.now ?? Date.now;
  }

  async measure(rule: AnalysisRule, w: MeasureWindow): Promise<Measurement> {
    const at = this.now();
    let secrets: string[] = [];
    const out = (r: { value: number | null; samples: number; error?: string }): Measurement => ({
      rule,
      slot: w.slot,
      value: r.value,
      samples: r.samples,
      ...(r.error !== undefined ? { error: cut(redact(r.error, secrets)) } : {}),
      at: new Date(at).toISOString(),
      from: new Date(w.sinceMs).toISOString(),
    });
    if (rule.metric !== 'web' || !rule.url || !rule.jsonPath)
      return out({ value: null, samples: 0, error: 'the rule needs url and jsonPath' });
    const vars: WebVars = { service: this.service, slot: w.slot, version: w.version, startMs: w.sinceMs, endMs: at };
    const url = fillTemplate(rule.url, vars, encodeURIComponent);
    const where = webWhere(url);
    const expanded = expandHeaders(rule.headers ?? {}, this.env);
    if ('missing' in expanded) {
      return out({
        value: null,
        samples: 0,
        error: `header ${expanded.header} names \${${expanded.missing}}, which is not set in the daemon's environment; set it and restart`,
      });
    }
    secrets = expanded.secrets;
    const method = rule.method ?? 'GET';
    const timeout = rule.timeout ?? DEFAULT_WEB_TIMEOUT_MS;
    const body = method === 'POST' && rule.body !== undefined ? fillTemplate(rule.body, vars, jsonEscape) : undefined;
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        method,
        headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...expanded.headers },
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(timeout),
      });
      text = await res.text();
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why = e.name === 'TimeoutError' ? `no answer within ${timeout}ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
      return out({ value: null, samples: 0, error: `${where}: ${why}` });
    }
    if (!res.ok) return out({ value: null, samples: 0, error: `${where} answered ${res.status}: ${text.trim() || 'an empty body'}` });
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return out({ value: null, samples: 0, error: `${where} answered ${res.status} with no JSON: ${text.trim() || 'an empty body'}` });
    }
    return out(pick(doc, rule.jsonPath));
  }
}

function redact(s: string, secrets: string[]): string {
  let out = s;
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join('***');
  return out;
}

function cut(s: string): string {
  return s.length > MAX_ERROR_CHARS ? `${s.slice(0, MAX_ERROR_CHARS - 3)}...` : s;
}
