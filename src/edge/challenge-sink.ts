// Where an ACME client puts the challenges the ACME server is about to validate. The client may run
// in the process whose listeners answer them (AcmeChallenges in acme.ts), or in the controller while
// router processes elsewhere answer them (the supervisor's routers, or `workers`): a challenge is
// plain data so it can cross a process boundary, and each process builds its own TLS context from it.

/** One challenge: an HTTP-01 token's key authorization, or a TLS-ALPN-01 challenge certificate for a host. */
export type Challenge =
  | { type: 'http-01'; token: string; keyAuthorization: string }
  | { type: 'tls-alpn-01'; host: string; cert: string; key: string };

/** What names a challenge among those pending: a newer one under the same key replaces it. */
export function challengeKey(c: Challenge): string {
  return c.type === 'http-01' ? `http-01:${c.token}` : `tls-alpn-01:${c.host}`;
}

export interface ChallengeSink {
  /** Whether an httpRedirect listener answers HTTP-01 challenges (else only TLS-ALPN-01 is offered). */
  httpReady(): boolean;
  /** Resolves once every listener the ACME server may reach answers the challenge. */
  set(c: Challenge): Promise<void>;
  clear(c: Challenge): Promise<void>;
  /** Forgets what an earlier client (a controller that died mid-order) left pending. */
  reset?(): Promise<void>;
  /**
   * The certificate files were replaced (obtained or renewed): resolves once every router process
   * serves the new ones. Without it, router processes notice the files by watching them.
   */
  written?(): Promise<void>;
}

/** The key under which router processes are told to load the certificate files again now. */
export const CERTIFICATES_KEY = 'certificates';
