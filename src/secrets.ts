// cutover's own secrets, kept from every child it starts (replicas, gates, migrations, hooks) and
// cut out of what children print before it is kept where a viewer can read it (events, status).
// The list: CUTOVER_TOKEN (an admin API token), the variables that hold webhook signing keys, and
// any value the daemon adds (its admin token from stateDir).

/** What a secret is replaced with in output. */
export const REDACTED = '[redacted]';
/** Shorter values are not cut out of output: they would match ordinary text. */
export const MIN_SECRET_LENGTH = 8;

const names = new Set<string>(['CUTOVER_TOKEN']);
const values = new Set<string>();

/** Variables whose values only the daemon may see (e.g. a webhook's `secret`); kept for the process's life. */
export function keepSecretEnv(...envNames: string[]): void {
  for (const n of envNames) names.add(n);
}

/** A secret value the daemon holds that is in no variable (its admin token). */
export function keepSecretValue(value: string): void {
  if (value.length >= MIN_SECRET_LENGTH) values.add(value);
}

/** The names no child gets, for tests and for the docs. */
export function secretEnvNames(): string[] {
  return [...names];
}

/** `base` (default: the daemon's environment) without the secret variables: what a child starts with. */
export function childEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined && !names.has(k)) env[k] = v;
  return env;
}

/** Every secret value known now: those of the secret variables in `env`, and those kept. */
function secretValues(env: NodeJS.ProcessEnv): string[] {
  const all = new Set(values);
  for (const n of names) {
    const v = env[n];
    if (v !== undefined && v.length >= MIN_SECRET_LENGTH) all.add(v);
  }
  // Longest first, so a secret that contains another is cut whole.
  return [...all].sort((a, b) => b.length - a.length);
}

/** `text` with every secret value (and `extra`, e.g. a release's preview token) replaced by REDACTED. */
export function redactText(text: string, extra: string[] = [], env: NodeJS.ProcessEnv = process.env): string {
  let out = text;
  for (const s of [...secretValues(env), ...extra.filter((e) => e.length >= MIN_SECRET_LENGTH)]) {
    if (out.includes(s)) out = out.split(s).join(REDACTED);
  }
  return out;
}

/** `value` with every string in it (however deep; keys are ours and stay) redacted as redactText does. */
export function redactSecrets<T>(value: T, extra: string[] = [], env: NodeJS.ProcessEnv = process.env): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return redactText(v, extra, env);
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
