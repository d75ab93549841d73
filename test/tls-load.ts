// TLS load for the restart tests of edge services: HTTP/1.1 keep-alive clients and HTTP/2 sessions
// that ask until stopped and keep every failure (an h2 session is never opened again, so a dropped
// connection shows as failures), and the fingerprint of the certificate a listener shows for a host.
import https from 'node:https';
import type http2 from 'node:http2';
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

/** HTTP/1.1 keep-alive clients and HTTP/2 sessions asking until stopped (4 minutes at most); every failure kept. */
export function tlsLoad(
  port: number,
  ca: string,
  host: string,
  h1 = 4,
  h2 = 3,
  maxMs = 240_000,
): { stop(): Promise<LoadResult & { bodies: Set<string> }> } {
  let stopping = false;
  const deadline = Date.now() + maxMs;
  let ok = 0;
  let maxGapMs = 0;
  const failures: string[] = [];
  const failed = new Set<string>();
  const bodies = new Set<string>();
  const record = (who: string, last: number, err: string | null, body: string): number => {
    const now = Date.now();
    if (err === null) {
      ok++;
      bodies.add(body);
      maxGapMs = Math.max(maxGapMs, now - last);
      return now;
    }
    failures.push(`${who}: ${err}`);
    failed.add(who);
    return last;
  };
  const loops = [
    ...Array.from({ length: h1 }, async (_, i) => {
      const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
      let last = Date.now();
      while (!stopping && Date.now() < deadline) {
        const r = await httpsOnce(agent, port, ca, host).then(
          (a) => ({ err: a.status === 200 ? null : `status ${a.status}`, body: a.body }),
          (e: Error) => ({ err: e.message, body: '' }),
        );
        last = record(`h1 client ${i}`, last, r.err, r.body);
      }
      agent.destroy();
    }),
    ...Array.from({ length: h2 }, async (_, i) => {
      const session: http2.ClientHttp2Session = await h2Connect(port, host, ca);
      session.on('error', () => {});
      let last = Date.now();
      while (!stopping && Date.now() < deadline) {
        const r = await h2Request(session, '/').then(
          (a) => ({ err: a.status === 200 ? null : `status ${a.status}`, body: a.body }),
          (e: Error) => ({ err: e.message, body: '' }),
        );
        last = record(`h2 session ${i}`, last, r.err, r.body);
      }
      session.close();
    }),
  ];
  return {
    stop: async () => {
      stopping = true;
      await Promise.all(loops);
      return { ok, failures, clientsFailed: failed.size, maxGapMs, bodies };
    },
  };
}
