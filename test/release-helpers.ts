// Pieces the release tests (gates, shift, analysis) share: the release app, clients that keep their
// sticky cookie, and reading a release's events.
import http from 'node:http';
import { join } from 'node:path';
import { ROOT, waitFor } from './helpers.ts';
import { writeSetup, type Running, type Setup } from './lifecycle-helpers.ts';

export const RELEASE_APP = join(ROOT, 'test/fixtures/release-app.js');

/** A `web` service running the release app with one replica per slot, and short analysis. */
export function releaseSetup(service: Record<string, unknown> = {}): Promise<Setup> {
  return writeSetup({
    provider: { kind: 'process', command: [process.execPath, RELEASE_APP, '{version}'], replicas: 1, stopGrace: '1s' },
    analysis: { interval: '250ms', window: '1s', minSamples: 10, failureLimit: 2, inconclusive: 'pass' },
    ...service,
  });
}

export async function release(d: Running, id: string): Promise<any> {
  return (await d.api('GET', `/api/v1/services/web/releases/${id}`)).json;
}

/** Waits for a release to end in any phase (or reach one of `phases`); returns it. */
export function settled(
  d: Running,
  id: string,
  phases = ['promoted', 'retired', 'failed', 'aborted', 'rolled-back'],
  timeoutMs = 45_000,
): Promise<any> {
  return waitFor(
    `release ${id} to be ${phases.join('/')}`,
    async () => {
      const r = await release(d, id);
      return phases.includes(r.phase) ? r : undefined;
    },
    timeoutMs,
  );
}

/** GET /version through the listener with extra headers; the version and slot that answered. */
export function ask(port: number, headers: Record<string, string> = {}): Promise<{ status: number; version: string; setCookie: string[] }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/version', headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        let version = '';
        try {
          version = (JSON.parse(body) as { version: string }).version;
        } catch {
          version = body.trim();
        }
        resolve({ status: res.statusCode ?? 0, version, setCookie: res.headers['set-cookie'] ?? [] });
      });
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timed out')));
  });
}

/**
 * Clients that each keep the cookies they are given (as a browser would) and record the versions
 * they were answered by, in order, until stopped (4 minutes at most, so a test that fails first still ends).
 */
export function stickyClients(port: number, n: number, maxMs = 240_000): { stop(): Promise<{ seen: string[][]; failures: string[] }> } {
  const deadline = Date.now() + maxMs;
  const seen: string[][] = Array.from({ length: n }, () => []);
  const failures: string[] = [];
  let stopping = false;
  const loops = seen.map(async (mine) => {
    const jar = new Map<string, string>();
    while (!stopping && Date.now() < deadline) {
      const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      try {
        const r = await ask(port, cookie ? { cookie } : {});
        for (const c of r.setCookie) {
          const [pair] = c.split(';');
          const eq = pair!.indexOf('=');
          jar.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
        }
        if (r.status === 200) {
          if (mine.at(-1) !== r.version) mine.push(r.version);
        } else failures.push(`status ${r.status}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
      await new Promise((res) => setTimeout(res, 20));
    }
  });
  return {
    stop: async () => {
      stopping = true;
      await Promise.all(loops);
      return { seen, failures };
    },
  };
}
