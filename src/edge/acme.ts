// Certificates from an ACME server (RFC 8555; Let's Encrypt by default) for the hosts of a service,
// with acme-client doing the protocol. HTTP-01 is answered on the httpRedirect listener when there is
// one, TLS-ALPN-01 on the TLS listener itself. The account key and each host's certificate live in
// stateDir (mode 0600) so a restart serves at once; a certificate is renewed ahead of expiry, and a
// failure is retried with backoff, kept in the status, and never takes the served certificate away.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import acme from 'acme-client';
import { LETS_ENCRYPT } from '../config/edge-schema.ts';
import type { Logger } from '../log.ts';
import { type CertStore, secureContext } from './certs.ts';

export const ACME_DEFAULTS = {
  directory: LETS_ENCRYPT,
  /** Renew when this much validity is left, or a third of the lifetime for short-lived certificates. */
  renewBefore: 20 * 24 * 3600_000,
  /** First retry after a failure; doubles up to retryMax. */
  retryBase: 60_000,
  retryMax: 3600_000,
  /** One attempt (account, order, challenges, certificate) gives up after this. */
  attemptTimeout: 120_000,
} as const;

/** Challenges waiting for the ACME server's validation, shared by the listeners of this process. */
export class AcmeChallenges {
  /** HTTP-01: token -> key authorization, served at /.well-known/acme-challenge/<token>. */
  readonly http = new Map<string, string>();
  /** TLS-ALPN-01: host -> the context with the challenge certificate, for `acme-tls/1` handshakes. */
  readonly alpn = new Map<string, tls.SecureContext>();
  /** How many httpRedirect listeners are up: HTTP-01 is offered only when one is. */
  httpListeners = 0;
}

export const acmeChallenges = new AcmeChallenges();

export interface AcmeOptions {
  service: string;
  hosts: readonly string[];
  email: string;
  directory: string;
  renewBefore: number;
  /** Folder for the account key and certificates (stateDir/acme). */
  storage: string;
  certs: CertStore;
  log: Logger;
  challenges?: AcmeChallenges;
  retryBase?: number;
  retryMax?: number;
  attemptTimeout?: number;
  /** Told of every change of a host's state (for events). */
  onState?: (s: AcmeHostState) => void;
}

export interface AcmeHostState {
  host: string;
  state: 'pending' | 'valid' | 'error';
  notAfter: string | null;
  /** The last failure, kept until a later attempt succeeds. */
  error: string | null;
  failures: number;
  nextAttempt: string | null;
}

const safe = (host: string): string => host.replace(/[^a-z0-9.-]/g, '_');

function writePrivate(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export class AcmeService {
  private readonly opts: AcmeOptions;
  private readonly challenges: AcmeChallenges;
  private readonly states = new Map<string, AcmeHostState>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Set<string>();
  private client: acme.Client | null = null;
  private closed = false;

  constructor(opts: AcmeOptions) {
    this.opts = opts;
    this.challenges = opts.challenges ?? acmeChallenges;
  }

  private dir(): string {
    // One folder per directory URL, so a staging account never mixes with a production one.
    const id = createHash('sha256').update(this.opts.directory).digest('hex').slice(0, 12);
    return path.join(this.opts.storage, id);
  }

  private files(host: string): { cert: string; key: string } {
    return { cert: path.join(this.dir(), `${safe(host)}.pem`), key: path.join(this.dir(), `${safe(host)}.key`) };
  }

  /** Serves the certificates already on disk, then obtains or renews each as due. */
  start(): void {
    mkdirSync(this.dir(), { recursive: true, mode: 0o700 });
    for (const host of this.opts.hosts) {
      const f = this.files(host);
      const state: AcmeHostState = { host, state: 'pending', notAfter: null, error: null, failures: 0, nextAttempt: null };
      this.states.set(host, state);
      if (existsSync(f.cert) && existsSync(f.key)) {
        try {
          const cert = readFileSync(f.cert, 'utf8');
          this.opts.certs.setPem([host], `acme:${host}`, cert, readFileSync(f.key, 'utf8'));
          state.state = 'valid';
          state.notAfter = new Date(new X509Certificate(cert).validTo).toISOString();
        } catch (err) {
          this.opts.log.warn('stored ACME certificate not usable; obtaining a new one', { host, err: (err as Error).message });
        }
      }
      this.schedule(host, this.renewAt(host));
    }
  }

  /** When the certificate of `host` is due: now when there is none. */
  renewAt(host: string): number {
    const s = this.states.get(host);
    if (s?.notAfter == null) return Date.now();
    const f = this.files(host);
    try {
      const x = new X509Certificate(readFileSync(f.cert));
      const lifetime = Date.parse(x.validTo) - Date.parse(x.validFrom);
      // Counted from when we got it (the file's time), so a clock that differs from the CA's moves nothing.
      const obtained = Math.min(statSync(f.cert).mtimeMs, Date.parse(x.validFrom));
      return obtained + lifetime - Math.min(this.opts.renewBefore, lifetime / 3);
    } catch {
      return Date.now();
    }
  }

  private schedule(host: string, at: number): void {
    if (this.closed) return;
    clearTimeout(this.timers.get(host));
    // Timers hold at most ~24 days; a far renewal is looked at again then.
    const delay = Math.min(Math.max(0, at - Date.now()), 12 * 3600_000);
    const t = setTimeout(() => {
      if (Date.now() + 1000 < at) this.schedule(host, at);
      else void this.obtain(host);
    }, delay);
    t.unref();
    this.timers.set(host, t);
  }

  private async accountClient(): Promise<acme.Client> {
    if (this.client !== null) return this.client;
    const keyFile = path.join(this.dir(), 'account.key');
    let key: string;
    if (existsSync(keyFile)) key = readFileSync(keyFile, 'utf8');
    else {
      key = (await acme.crypto.createPrivateEcdsaKey()).toString();
      writePrivate(keyFile, key);
    }
    this.client = new acme.Client({
      directoryUrl: this.opts.directory,
      accountKey: key,
      backoffAttempts: 5,
      backoffMin: 500,
      backoffMax: 5000,
    });
    return this.client;
  }

  /** Obtains (or renews) the certificate of `host` now; one attempt at a time per host. */
  async obtain(host: string): Promise<void> {
    if (this.running.has(host) || this.closed) return;
    this.running.add(host);
    const state = this.states.get(host) as AcmeHostState;
    const log = this.opts.log.child({ service: this.opts.service, host });
    try {
      const client = await this.accountClient();
      const [key, csr] = await acme.crypto.createCsr({ commonName: host }, await acme.crypto.createPrivateEcdsaKey());
      const useHttp = this.challenges.httpListeners > 0;
      let timer: NodeJS.Timeout | undefined;
      const timeout = this.opts.attemptTimeout ?? ACME_DEFAULTS.attemptTimeout;
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no certificate within ${Math.round(timeout / 1000)}s`)), timeout);
      });
      const issued = client.auto({
        csr,
        email: this.opts.email,
        termsOfServiceAgreed: true,
        // The ACME server checks the challenge itself; a pre-check from here could not reach our own public address.
        skipChallengeVerification: true,
        challengePriority: useHttp ? ['http-01', 'tls-alpn-01'] : ['tls-alpn-01'],
        challengeCreateFn: async (authz, challenge, keyAuthorization) => {
          if (challenge.type === 'http-01') this.challenges.http.set(challenge.token, keyAuthorization);
          else if ((challenge.type as string) === 'tls-alpn-01') {
            const [ck, cc] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
            this.challenges.alpn.set(authz.identifier.value, secureContext(cc, ck));
          }
        },
        challengeRemoveFn: async (authz, challenge) => {
          if (challenge.type === 'http-01') this.challenges.http.delete(challenge.token);
          else this.challenges.alpn.delete(authz.identifier.value);
        },
      });
      const cert = await Promise.race([issued, expired]).finally(() => clearTimeout(timer));
      if (this.closed) return;
      const f = this.files(host);
      writePrivate(f.key, key.toString());
      writePrivate(f.cert, cert);
      this.opts.certs.setPem([host], `acme:${host}`, cert, key.toString());
      state.state = 'valid';
      state.notAfter = new Date(new X509Certificate(cert).validTo).toISOString();
      state.error = null;
      state.failures = 0;
      state.nextAttempt = new Date(this.renewAt(host)).toISOString();
      log.info('ACME certificate obtained', { notAfter: state.notAfter, directory: this.opts.directory });
      this.schedule(host, this.renewAt(host));
    } catch (err) {
      state.failures++;
      const wait = Math.min(
        (this.opts.retryBase ?? ACME_DEFAULTS.retryBase) * 2 ** (state.failures - 1),
        this.opts.retryMax ?? ACME_DEFAULTS.retryMax,
      );
      const message = describe(err, this.opts.directory);
      state.error = `obtaining a certificate for ${host} from ${this.opts.directory} failed: ${message}; retrying in ${Math.round(wait / 1000)}s (check that ${host} resolves to this machine and port 80 or 443 reaches cutover)`;
      state.nextAttempt = new Date(Date.now() + wait).toISOString();
      state.state = 'error';
      log.error('ACME certificate not obtained; the current certificate (if any) is still served', { err: message, retryInMs: wait });
      this.schedule(host, Date.now() + wait);
    } finally {
      this.running.delete(host);
      this.opts.onState?.({ ...state });
    }
  }

  status(): AcmeHostState[] {
    return [...this.states.values()].map((s) => ({ ...s }));
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}

/** What went wrong, in words: acme-client reports an unreachable directory as a TypeError from inside axios. */
function describe(err: unknown, directory: string): string {
  const e = err as Error & { code?: string };
  if (e instanceof TypeError && /reading 'config'|reading 'status'/.test(e.message))
    return `the ACME directory ${directory} did not answer (unreachable or refused)`;
  return e.code ? `${e.message} (${e.code})` : e.message || String(err);
}
