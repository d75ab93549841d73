// The CLI is a thin client of the daemon's API. Which daemon, in order: CUTOVER_API; else the
// `api.listen` of the config given with `-c FILE`, else of ./cutover.yaml; else http://127.0.0.1:9900.
// The token, in order: CUTOVER_TOKEN; else the admin token the daemon keeps in that config's stateDir
// (./.cutover without a config). Errors name both, so "which daemon, as whom" is never a guess.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { ADMIN_TOKEN_FILE } from '../api/auth.ts';
import { CutoverError, type ErrorCode } from '../errors.ts';
import { isLoopbackHost } from '../net/address.ts';

export const DEFAULT_API = 'http://127.0.0.1:9900';

/** An error the API answered with (exit 3), naming the URL asked and where the token came from. */
export class ApiError extends CutoverError {
  readonly url: string;
  constructor(code: ErrorCode, message: string, status: number, url: string) {
    super(code, message, status);
    this.name = 'ApiError';
    this.url = url;
  }
}

export interface Target {
  /** `http://127.0.0.1:9900`, without a trailing slash. */
  base: string;
  /** Where `base` came from: `CUTOVER_API`, `api.listen in FILE`, or `the default`. */
  baseFrom: string;
  token: string | undefined;
  /** Where the token came from, or why there is none. */
  tokenFrom: string;
}

let configFile: string | undefined;

/** `-c FILE` of the running command: the config whose daemon to talk to. */
export function useConfig(file: string | undefined): void {
  configFile = file;
  cached = undefined;
}

let cached: Target | undefined;

/** The API and token this CLI run uses (resolved once). */
export function target(): Target {
  cached ??= resolveTarget(configFile, process.env);
  return cached;
}

interface RawConfig {
  api?: { listen?: unknown };
  stateDir?: unknown;
}

function readConfig(file: string, explicit: boolean): RawConfig | undefined {
  if (!existsSync(file)) {
    if (explicit)
      throw new CutoverError('CUTOVER_E_CONFIG_NOT_FOUND', `no config file at ${file}; give the one \`cutover up\` runs with -c`, 400);
    return undefined;
  }
  try {
    const raw = parse(readFileSync(file, 'utf8')) as unknown;
    return raw !== null && typeof raw === 'object' ? (raw as RawConfig) : {};
  } catch (err) {
    if (explicit)
      throw new CutoverError(
        'CUTOVER_E_CONFIG_INVALID',
        `${file} is not YAML cutover can read; check it with \`cutover validate -c ${file}\``,
        400,
        {
          cause: err,
        },
      );
    return undefined;
  }
}

/** `0.0.0.0:9900` and `[::]:9900` listen everywhere; the CLI on this machine asks the loopback. */
export function apiUrl(listen: string): string {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(listen.trim());
  if (!m) return `http://${listen.trim()}`;
  const host = m[1] === '0.0.0.0' ? '127.0.0.1' : m[1] === '[::]' ? '[::1]' : m[1];
  return `http://${host}:${m[2]}`;
}

function isLoopbackUrl(base: string): boolean {
  try {
    return isLoopbackHost(new URL(base).hostname);
  } catch {
    return false;
  }
}

export function resolveTarget(file: string | undefined, env: NodeJS.ProcessEnv): Target {
  const configPath = resolve(file ?? 'cutover.yaml');
  const config = readConfig(configPath, file !== undefined);
  let base = DEFAULT_API;
  let baseFrom = 'the default (no CUTOVER_API, no ./cutover.yaml)';
  if (env.CUTOVER_API) {
    base = env.CUTOVER_API;
    baseFrom = 'CUTOVER_API';
  } else if (config !== undefined) {
    const listen = config.api?.listen;
    if (typeof listen === 'string' && listen !== '') {
      base = apiUrl(listen);
      baseFrom = `api.listen in ${configPath}`;
    } else baseFrom = `the default api.listen of ${configPath}`;
  }
  base = base.replace(/\/+$/, '');

  if (env.CUTOVER_TOKEN) return { base, baseFrom, token: env.CUTOVER_TOKEN, tokenFrom: 'CUTOVER_TOKEN' };
  // The local admin token goes only to an API on this machine: never over a network in plain HTTP.
  if (!isLoopbackUrl(base)) {
    return {
      base,
      baseFrom,
      token: undefined,
      tokenFrom: `none (no CUTOVER_TOKEN; the local admin token is sent only to a loopback API, not ${base})`,
    };
  }
  const stateDir =
    config !== undefined
      ? resolve(dirname(configPath), typeof config.stateDir === 'string' && config.stateDir !== '' ? config.stateDir : '.cutover')
      : resolve('.cutover');
  const tokenFile = join(stateDir, ADMIN_TOKEN_FILE);
  if (existsSync(tokenFile)) return { base, baseFrom, token: readFileSync(tokenFile, 'utf8').trim(), tokenFrom: tokenFile };
  return { base, baseFrom, token: undefined, tokenFrom: `none (no CUTOVER_TOKEN, no ${tokenFile})` };
}

export async function api<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const res = await request(method, path, body, signal);
  const t = target();
  const url = `${t.base}/api/v1${path}`;
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiError('CUTOVER_E_INTERNAL', `${method} ${url} answered ${res.status} with something that is not JSON`, res.status, url);
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string } }).error;
    const auth = res.status === 401 || res.status === 403 ? ` (token: ${t.tokenFrom})` : '';
    throw new ApiError(
      (e?.code ?? 'CUTOVER_E_INTERNAL') as ErrorCode,
      `${e?.message ?? `HTTP ${res.status}`}${auth} [${method} ${url}]`,
      res.status,
      url,
    );
  }
  return json as T;
}

/** The raw answer (for streams such as `logs --follow`); unreachable is a coded error naming the URL. */
export async function request(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  const t = target();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (t.token) headers.authorization = `Bearer ${t.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const url = `${t.base}/api/v1${path}`;
  try {
    return await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: signal ?? AbortSignal.timeout(60_000),
    });
  } catch (err) {
    throw new CutoverError(
      'CUTOVER_E_API_UNREACHABLE',
      `cannot reach the cutover API at ${t.base} (from ${t.baseFrom}): is \`cutover up\` running? Point the CLI at its config with -c FILE or set CUTOVER_API`,
      503,
      { cause: err },
    );
  }
}
