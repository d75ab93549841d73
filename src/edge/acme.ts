// Certificates from an ACME server (RFC 8555; Let's Encrypt by default) for the hosts of a service,
// with acme-client doing the protocol. HTTP-01 is answered on the httpRedirect listener when there is
// one, TLS-ALPN-01 on the TLS listener itself, through a ChallengeSink: this process's listeners, or
// router processes elsewhere. The account key and each host's certificate live in stateDir (mode
// 0600) so a restart serves at once, and router processes that do not run the client load them as
// files (loadAcmeFiles); a certificate is renewed ahead of expiry, and a failure is retried with
// backoff, kept in the status, and never takes the served certificate away.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import acme from 'acme-client';
import { LETS_ENCRYPT } from '../config/edge-schema.ts';
import type { Logger } from '../log.ts';
import { type CertStore, secureContext } from './certs.ts';
import { type Challenge, type ChallengeSink, challengeKey } from './challenge-sink.ts';

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

// acme-client retries a request that got no answer (or a 5xx, or a 429) five times, 5 to 25 s apart,
// inside one attempt: an ACME server that was down showed in status only at the attempt timeout,
// minutes later. Our own retry (retryBase, doubling up to retryMax) already waits between attempts
// and records each failure, so one quick retry inside an attempt is enough (a Retry-After is still
// honoured for it).
const acmeSettings = (acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number; retryDefaultDelay: number } })
  .acmeSettings;
acmeSettings.retryMaxAttempts = 1;
acmeSettings.retryDefaultDelay = 1;

/** Errors of a request that got no answer at all: the server is down or unreachable from here. */
const NO_ANSWER = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/** Challenges waiting for the ACME server's validation, shared by the listeners of this process. */
export class AcmeChallenges implements ChallengeSink {
  /** HTTP-01: token -> key authorization, served at /.well-known/acme-challenge/<token>. */
  readonly http = new Map<string, string>();
  /** TLS-ALPN-01: host -> the context with the challenge certificate, for `acme-tls/1` handshakes. */
  readonly alpn = new Map<string, tls.SecureContext>();
  /** How many httpRedirect listeners are up: HTTP-01 is offered only when one is. */
  httpListeners = 0;
  /** What each key holds, so a challenge handed over by key alone (`null`) can be taken away. */
  private readonly byKey = new Map<string, Challenge>();

  httpReady(): boolean {
    return this.httpListeners > 0;
  }

  async set(c: Challenge): Promise<void> {
    this.apply(challengeKey(c), c);
  }

  async clear(c: Challenge): Promise<void> {
    this.apply(challengeKey(c), null);
  }

  /** Sets (or with `null` removes) the challenge under `key`: how a router process is handed one. */
  apply(key: string, c: Challenge | null): void {
    const old = this.byKey.get(key);
    if (old?.type === 'http-01') this.http.delete(old.token);
    else if (old?.type === 'tls-alpn-01') this.alpn.delete(old.host);
    if (c === null) {
      this.byKey.delete(key);
      return;
    }
    if (c.type === 'http-01') this.http.set(c.token, c.keyAuthorization);
    else this.alpn.set(c.host, secureContext(c.cert, c.key));
    this.byKey.set(key, c);
  }
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
  /** Where challenges go: this process's listeners by default. */
  challenges?: ChallengeSink;
  retryBase?: number;
  retryMax?: number;
  attemptTimeout?: number;
  /** Told of every certificate obtained or renewed, and of every attempt that failed (for the event log). */
  onCertificate?: (e: CertificateEvent) => void;
}

/** What one attempt came to, for the event log: a first certificate, a renewal, or a failure. */
export interface CertificateEvent {
  host: string;
  outcome: 'obtained' | 'renewed' | 'failed';
  /** A sentence for the log: what happened, and on a failure what to do and when it is tried again. */
  reason: string;
  directory: string;
  state: AcmeHostState;
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

/** The folder of one ACME directory's account and certificates, so a staging account never mixes with a production one. */
function accountDir(storage: string, directory: string): string {
  return path.join(storage, createHash('sha256').update(directory).digest('hex').slice(0, 12));
}

/** Where the certificate and key of `host` from `directory` are kept under `storage`. */
export function acmeFiles(storage: string, directory: string, host: string): { cert: string; key: string } {
  const dir = accountDir(storage, directory);
  return { cert: path.join(dir, `${safe(host)}.pem`), key: path.join(dir, `${safe(host)}.key`) };
}

/**
 * For a router process whose ACME client runs elsewhere (the controller): serves each host's
 * certificate from the files that client writes, reloaded when a renewal replaces them. A file not
 * there yet fails nothing: the handshake gets no certificate for that host until it appears.
 */
export function loadAcmeFiles(certs: CertStore, hosts: readonly string[], storage: string, directory: string): () => void {
  // The folder exists before it is watched, so the first certificate is seen when it is written.
  mkdirSync(accountDir(storage, directory), { recursive: true, mode: 0o700 });
  const removers = hosts.map((host) => {
    const f = acmeFiles(storage, directory, host);
    return certs.addFiles([host], f.cert, f.key, `waiting for the ACME certificate of ${host}`);
  });
  // What takes them out again (the service left the listener).
  return () => {
    for (const remove of removers) remove();
  };
}

function writePrivate(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export class AcmeService {
  private readonly opts: AcmeOptions;
  private readonly challenges: ChallengeSink;
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
    return accountDir(this.opts.storage, this.opts.directory);
  }

  private files(host: string): { cert: string; key: string } {
    return acmeFiles(this.opts.storage, this.opts.directory, host);
  }

  /** Serves the certificates already on disk, then obtains or renews each as due. */
  start(): void {
    mkdirSync(this.dir(), { recursive: true, mode: 0o700 });
    this.challenges.reset?.().catch((err: unknown) => this.opts.log.warn('cannot clear old ACME challenges', { err }));
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
    // A host that has a certificate (even one whose last renewal failed) is renewing it.
    const renewing = state.notAfter !== null;
    try {
      const client = await this.accountClient();
      const [key, csr] = await acme.crypto.createCsr({ commonName: host }, await acme.crypto.createPrivateEcdsaKey());
      const useHttp = this.challenges.httpReady();
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
          if (challenge.type === 'http-01') await this.challenges.set({ type: 'http-01', token: challenge.token, keyAuthorization });
          else if ((challenge.type as string) === 'tls-alpn-01') {
            const [ck, cc] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
            await this.challenges.set({ type: 'tls-alpn-01', host: authz.identifier.value, cert: cc.toString(), key: ck.toString() });
          }
        },
        challengeRemoveFn: async (authz, challenge) => {
          const c: Challenge =
            challenge.type === 'http-01'
              ? { type: 'http-01', token: challenge.token, keyAuthorization: '' }
              : { type: 'tls-alpn-01', host: authz.identifier.value, cert: '', key: '' };
          await this.challenges.clear(c);
        },
      });
      const cert = await Promise.race([issued, expired]).finally(() => clearTimeout(timer));
      if (this.closed) return;
      const f = this.files(host);
      writePrivate(f.key, key.toString());
      writePrivate(f.cert, cert);
      this.opts.certs.setPem([host], `acme:${host}`, cert, key.toString());
      // Told only once the routers serve it: the event below says so.
      await this.challenges
        .written?.()
        .catch((err: unknown) =>
          log.warn('the routers were not told of the new certificate; they load it when they see the file change', { err }),
        );
      if (this.closed) return;
      state.state = 'valid';
      state.notAfter = new Date(new X509Certificate(cert).validTo).toISOString();
      state.error = null;
      state.failures = 0;
      state.nextAttempt = new Date(this.renewAt(host)).toISOString();
      log.info(renewing ? 'ACME certificate renewed' : 'ACME certificate obtained', {
        notAfter: state.notAfter,
        directory: this.opts.directory,
      });
      this.schedule(host, this.renewAt(host));
      this.tell(
        renewing ? 'renewed' : 'obtained',
        `certificate for ${host} ${renewing ? 'renewed' : 'obtained'} from ${this.opts.directory}, valid until ${state.notAfter}; served from now on`,
        state,
      );
    } catch (err) {
      state.failures++;
      const wait = Math.min(
        (this.opts.retryBase ?? ACME_DEFAULTS.retryBase) * 2 ** (state.failures - 1),
        this.opts.retryMax ?? ACME_DEFAULTS.retryMax,
      );
      const message = describe(err, this.opts.directory);
      // Unreachable server: the fix is on the way out; else most likely the validation could not reach us.
      const check = message.includes('did not answer')
        ? `that this machine reaches ${this.opts.directory} (DNS, firewall, proxy, and NODE_EXTRA_CA_CERTS for a private CA)`
        : `that ${host} resolves to this machine and port 80 or 443 reaches cutover`;
      state.error = `obtaining a certificate for ${host} from ${this.opts.directory} failed: ${message}; retrying in ${Math.round(wait / 1000)}s (check ${check})`;
      state.nextAttempt = new Date(Date.now() + wait).toISOString();
      state.state = 'error';
      log.error('ACME certificate not obtained; the current certificate (if any) is still served', { err: message, retryInMs: wait });
      this.schedule(host, Date.now() + wait);
      const kept = renewing ? `; the certificate valid until ${state.notAfter} is still served` : '';
      this.tell('failed', `${state.error}${kept}`, state);
    } finally {
      this.running.delete(host);
    }
  }

  private tell(outcome: CertificateEvent['outcome'], reason: string, state: AcmeHostState): void {
    if (this.closed) return;
    try {
      this.opts.onCertificate?.({ host: state.host, outcome, reason, directory: this.opts.directory, state: { ...state } });
    } catch (err) {
      this.opts.log.warn('recording an ACME event failed', { host: state.host, err });
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
  if (e.code !== undefined && NO_ANSWER.has(e.code)) return `the ACME directory ${directory} did not answer (${e.code})`;
  return e.code ? `${e.message} (${e.code})` : e.message || String(err);
}
