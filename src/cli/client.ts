// The CLI is a thin client of the daemon's API: CUTOVER_API (default http://127.0.0.1:9900) and
// CUTOVER_TOKEN (default: the admin token the local daemon keeps in its stateDir, found through
// ./cutover.yaml, else in ./.cutover/admin.token).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { ADMIN_TOKEN_FILE } from '../api/auth.ts';
import { CutoverError } from '../errors.ts';

export const DEFAULT_API = 'http://127.0.0.1:9900';

function token(): string | undefined {
  const env = process.env.CUTOVER_TOKEN;
  if (env) return env;
  const file = join(localStateDir(), ADMIN_TOKEN_FILE);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

/** The stateDir of ./cutover.yaml when there is one (as `up` resolves it), else ./.cutover. */
function localStateDir(): string {
  const config = resolve('cutover.yaml');
  try {
    const stateDir = (parse(readFileSync(config, 'utf8')) as { stateDir?: unknown } | null)?.stateDir;
    if (typeof stateDir === 'string' && stateDir !== '') return resolve(dirname(config), stateDir);
  } catch {
    // No config here, or not one we can read: the default place.
  }
  return resolve('.cutover');
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const base = (process.env.CUTOVER_API ?? DEFAULT_API).replace(/\/$/, '');
  const headers: Record<string, string> = { accept: 'application/json' };
  const t = token();
  if (t) headers.authorization = `Bearer ${t}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
  } catch (err) {
    throw new CutoverError(
      'CUTOVER_E_API_UNREACHABLE',
      `cannot reach the cutover API at ${base}: is \`cutover up\` running? (set CUTOVER_API to its address)`,
      503,
      { cause: err },
    );
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CutoverError('CUTOVER_E_INTERNAL', `the API at ${base} answered ${res.status} with something that is not JSON`, 502);
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string } }).error;
    throw new CutoverError((e?.code ?? 'CUTOVER_E_INTERNAL') as CutoverError['code'], e?.message ?? `HTTP ${res.status}`, res.status);
  }
  return json as T;
}
