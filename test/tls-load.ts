// TLS load for the restart tests of edge services: HTTP/1.1 keep-alive clients and HTTP/2 sessions
// that ask until stopped and keep every failure (an h2 session is never opened again, so a dropped
// connection shows as failures), for one host or spread over several hosts of one listener with what
// each answered; and the fingerprint of the certificate a listener shows for a host.
import type http2 from 'node:http2';
import https from 'node:https';
import tls from 'node:tls';
import { h2Connect, h2Request } from './edge-helpers.ts';
import type { LoadResult } from './supervisor-helpers.ts';

/** The SHA-256 fingerprint of the certificate the listener shows for `host`, verified against `ca`. */
export function servedFingerprint(port: number, ca: string, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: host, ca }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.destroy();
      resolve(fp);
    });
    s.on('error', reject);
  });
}

/** One GET / for `host` over `agent` (keep-alive or not). */
export function httpsOnce(agent: https.Agent, port: number, ca: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/', servername: host, headers: { host }, ca, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

export type TlsLoadResult = LoadResult & {
  /** What each host answered (the upstreams answer their slot name). */
  bodies: Map<string, Set<string>>;
};

/** HTTP/1.1 keep-alive clients and HTTP/2 sessions for `host` asking until stopped (4 minutes at most); every failure kept. */
export function tlsLoad(
  port: number,
  ca: string,
  host: string,
  h1 = 4,
  h2 = 3,
  maxMs = 240_000,
): { stop(): Promise<LoadResult & { bodies: Set<string> }> } {
  const load = tlsLoadHosts(port, ca, [host], h1, h2, maxMs);
  return {
    stop: async () => {
      const r = await load.stop();
      return { ...r, bodies: r.bodies.get(host) ?? new Set() };
    },
  };
}

/**
 * `h1` HTTP/1.1 keep-alive clients and `h2` HTTP/2 sessions per host, asking until stopped (4
 * minutes at most, so a test that fails first still ends); every failure kept.
 */
export function tlsLoadHosts(
  port: number,
  ca: string,
  hosts: string[],
  h1 = 2,
  h2 = 2,
  maxMs = 240_000,
): { stop(): Promise<TlsLoadResult> } {
  let stopping = false;
  const deadline = Date.now() + maxMs;
  let ok = 0;
  let maxGapMs = 0;
  const failures: string[] = [];
  const failed = new Set<string>();
  const bodies = new Map(hosts.map((h) => [h, new Set<string>()]));
  const loop = async (who: string, host: string, ask: () => Promise<{ status: number; body: string }>): Promise<void> => {
    let last = Date.now();
    while (!stopping && Date.now() < deadline) {
      const r = await ask().then(
        (a) => ({ err: a.status === 200 ? null : `status ${a.status}`, body: a.body }),
        (e: Error) => ({ err: e.message, body: '' }),
      );
      const now = Date.now();
      if (r.err === null) {
        ok++;
        bodies.get(host)?.add(r.body);
        maxGapMs = Math.max(maxGapMs, now - last);
        last = now;
      } else {
        failures.push(`${who}: ${r.err}`);
        failed.add(who);
      }
    }
  };
  const loops = hosts.flatMap((host) => [
    ...Array.from({ length: h1 }, async (_, i) => {
      const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
      await loop(`h1 client ${i} of ${host}`, host, () => httpsOnce(agent, port, ca, host));
      agent.destroy();
    }),
    ...Array.from({ length: h2 }, async (_, i) => {
      const session: http2.ClientHttp2Session = await h2Connect(port, host, ca);
      session.on('error', () => {});
      await loop(`h2 session ${i} of ${host}`, host, () => h2Request(session, '/'));
      session.close();
    }),
  ]);
  return {
    stop: async () => {
      stopping = true;
      await Promise.all(loops);
      return { ok, failures, clientsFailed: failed.size, maxGapMs, bodies };
    },
  };
}
