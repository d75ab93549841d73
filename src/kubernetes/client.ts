// A small client of the Kubernetes API for the kubernetes provider and the kubernetes-service
// adapter: plain HTTPS with node:https, authenticated as the pod's service account (in a cluster) or
// as a kubeconfig user (token or client certificate). It makes the few calls those two need (apply,
// get, list, merge patch) instead of pulling in @kubernetes/client-node and its dependency tree.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';

/** Where the API server is and who we are to it. */
export interface KubeConnection {
  /** Base URL, like https://10.96.0.1:443 (http:// only for tests on loopback). */
  server: string;
  /** A bearer token, or a function reading the current one (service account tokens rotate). */
  token?: string | (() => string);
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecure?: boolean;
  /** The namespace the credentials belong to (in a cluster: the pod's), for messages and defaults. */
  namespace?: string;
}

export interface KubeSource {
  /** A kubeconfig file; unset: in the cluster when it runs in a pod, else $KUBECONFIG or ~/.kube/config. */
  kubeconfig?: string;
  /** A context of the kubeconfig; unset: its current-context. */
  context?: string;
}

/** The API answered with a status (`reason` from its Status object), or could not be reached (status 0). */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
  }
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const TOKEN_REREAD_MS = 60_000;
const REQUEST_TIMEOUT_MS = 10_000;

/** The connection `source` names, read once (the service account token is read again every minute). */
export function loadConnection(source: KubeSource = {}, env: NodeJS.ProcessEnv = process.env): KubeConnection {
  if (source.kubeconfig === undefined && env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT) {
    let token = '';
    let readAt = 0;
    const host = env.KUBERNETES_SERVICE_HOST.includes(':') ? `[${env.KUBERNETES_SERVICE_HOST}]` : env.KUBERNETES_SERVICE_HOST;
    return {
      server: `https://${host}:${env.KUBERNETES_SERVICE_PORT}`,
      ca: readFileSync(`${SA_DIR}/ca.crt`),
      namespace: readFileSync(`${SA_DIR}/namespace`, 'utf8').trim(),
      token: () => {
        if (Date.now() - readAt > TOKEN_REREAD_MS) {
          token = readFileSync(`${SA_DIR}/token`, 'utf8').trim();
          readAt = Date.now();
        }
        return token;
      },
    };
  }
  const file = source.kubeconfig ?? env.KUBECONFIG?.split(':')[0] ?? resolve(homedir(), '.kube/config');
  return fromKubeconfig(readFileSync(file, 'utf8'), file, source.context);
}

type Named<T> = { name: string } & T;
interface Kubeconfig {
  'current-context'?: string;
  contexts?: Named<{ context: { cluster: string; user: string; namespace?: string } }>[];
  clusters?: Named<{
    cluster: {
      server: string;
      'certificate-authority'?: string;
      'certificate-authority-data'?: string;
      'insecure-skip-tls-verify'?: boolean;
    };
  }>[];
  users?: Named<{ user: Record<string, unknown> }>[];
}

/** The connection of one context of a kubeconfig (its text, and its path for relative files). */
export function fromKubeconfig(text: string, file: string, context?: string): KubeConnection {
  const cfg = (parse(text) ?? {}) as Kubeconfig;
  const name = context ?? cfg['current-context'];
  const fail = (what: string) => new Error(`kubeconfig ${file}: ${what}`);
  const ctx = cfg.contexts?.find((c) => c.name === name)?.context;
  if (!ctx) throw fail(name ? `no context named ${name}` : 'no current-context; name one with provider.context');
  const cluster = cfg.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster?.server) throw fail(`context ${name} names cluster ${ctx.cluster}, which has no server`);
  const user = cfg.users?.find((u) => u.name === ctx.user)?.user ?? {};
  const rel = (p: string) => resolve(dirname(file), p);
  const bytes = (data: unknown, path: unknown): Buffer | undefined =>
    typeof data === 'string' ? Buffer.from(data, 'base64') : typeof path === 'string' ? readFileSync(rel(path)) : undefined;
  if (user.exec !== undefined || user['auth-provider'] !== undefined)
    throw fail(
      `user ${ctx.user} signs in through an exec or auth-provider plugin, which cutover does not run; give it a token or a client certificate`,
    );
  const conn: KubeConnection = { server: cluster.server.replace(/\/+$/, '') };
  const ca = bytes(cluster['certificate-authority-data'], cluster['certificate-authority']);
  if (ca) conn.ca = ca;
  if (cluster['insecure-skip-tls-verify'] === true) conn.insecure = true;
  const cert = bytes(user['client-certificate-data'], user['client-certificate']);
  const key = bytes(user['client-key-data'], user['client-key']);
  if (cert) conn.cert = cert;
  if (key) conn.key = key;
  if (typeof user.token === 'string') conn.token = user.token;
  else if (typeof user.tokenFile === 'string') conn.token = readFileSync(rel(user.tokenFile), 'utf8').trim();
  if (ctx.namespace) conn.namespace = ctx.namespace;
  return conn;
}

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string>;
  body?: unknown;
  /** Default application/json; PATCH needs one of the patch types. */
  contentType?: string;
}

export class KubeClient {
  readonly #conn: KubeConnection;
  constructor(conn: KubeConnection) {
    this.#conn = conn;
  }

  get server(): string {
    return this.#conn.server;
  }

  /** The answer's JSON; rejects with KubeApiError for any status other than 2xx (status 0: unreachable). */
  request<T = unknown>(req: KubeRequest): Promise<T> {
    const url = new URL(this.#conn.server + req.path);
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
    const body = req.body === undefined ? undefined : JSON.stringify(req.body);
    const token = typeof this.#conn.token === 'function' ? this.#conn.token() : this.#conn.token;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) {
      headers['content-type'] = req.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const tls = url.protocol === 'https:';
    const options: https.RequestOptions = { method: req.method, headers, timeout: REQUEST_TIMEOUT_MS };
    if (tls) {
      if (this.#conn.ca) options.ca = this.#conn.ca;
      if (this.#conn.cert) options.cert = this.#conn.cert;
      if (this.#conn.key) options.key = this.#conn.key;
      if (this.#conn.insecure) options.rejectUnauthorized = false;
    }
    const what = `${req.method} ${url.pathname}`;
    return new Promise<T>((resolvePromise, reject) => {
      const r = (tls ? https : http).request(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new KubeApiError(0, 'Unreachable', `${what}: ${err.message}`, { cause: err })));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = null;
          try {
            json = text === '' ? null : JSON.parse(text);
          } catch {
            // A proxy's HTML error page, say: reported by status below.
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolvePromise(json as T);
          const s = (json ?? {}) as { reason?: string; message?: string };
          reject(new KubeApiError(status, s.reason ?? `HTTP${status}`, `${what}: ${status} ${s.message ?? text.slice(0, 200)}`));
        });
      });
      r.on('timeout', () => r.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      r.on('error', (err) =>
        reject(
          new KubeApiError(0, 'Unreachable', `${what}: cannot reach the Kubernetes API at ${this.#conn.server}: ${err.message}`, {
            cause: err,
          }),
        ),
      );
      r.end(body);
    });
  }
}

export const MERGE_PATCH = 'application/merge-patch+json';
export const APPLY_PATCH = 'application/apply-patch+yaml';
/** The field manager cutover's server-side applies and patches are recorded under. */
export const FIELD_MANAGER = 'cutover';
