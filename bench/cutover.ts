// cutover itself, started the way an operator would (`cutover up -c FILE`) with a static service whose
// blue and green slots are the two ports of the upstream nginx; switches go through the HTTP API.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sleep, startProcess, tail, type Child } from './proc.ts';
import type { Slot, Target, Upstream } from './target.ts';

// A daemon starting on a loaded machine (other engineers' tests) can take most of a minute.
const READY_TIMEOUT_MS = 60_000;
const SERVICE = 'bench';

export const repoRoot = path.resolve(import.meta.dirname, '..');

/** Why cutover cannot be benchmarked in this tree yet, or undefined when it can. */
export function cutoverMissing(): string | undefined {
  const up = path.join(repoRoot, 'src/cli/up.ts');
  return existsSync(up) ? undefined : 'src/cli/up.ts does not exist yet';
}

/** TLS on the listener (bench/tls.ts): the certificate and key files. */
export interface CutoverTls {
  certificate: string;
  key: string;
}

function config(dir: string, workers: number, port: number, apiPort: number, upstream: Upstream, tls?: CutoverTls): string {
  return `api: { listen: 127.0.0.1:${apiPort} }
stateDir: ${path.join(dir, 'state')}
services:
  ${SERVICE}:
    listen: 127.0.0.1:${port}
    workers: ${workers}
    provider: { kind: static, blue: [127.0.0.1:${upstream.blue}], green: [127.0.0.1:${upstream.green}] }
    health: { path: /, interval: 1s }
${tls ? `    tls: { certificate: ${tls.certificate}, key: ${tls.key} }\n` : ''}`;
}

interface Api {
  get(p: string): Promise<Response>;
  post(p: string, body: unknown): Promise<Response>;
}

function api(apiPort: number, token: string): Api {
  const base = `http://127.0.0.1:${apiPort}`;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  return {
    get: (p) => fetch(base + p, { headers, signal: AbortSignal.timeout(5000) }),
    post: (p, body) => fetch(base + p, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) }),
  };
}

interface ServiceStatus {
  live?: string;
  slots?: { blue?: { targets?: { healthy?: boolean }[] } };
}

/** Ready: the API answers, blue is live and its target is healthy. */
async function waitReady(child: Child, client: Api): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer yet';
  while (Date.now() < deadline && child.isRunning()) {
    try {
      const health = await client.get('/healthz');
      await health.body?.cancel();
      if (health.status === 200) {
        const res = await client.get(`/api/v1/services/${SERVICE}`);
        const body = (await res.json()) as ServiceStatus;
        if (res.status === 200 && body.live === 'blue' && body.slots?.blue?.targets?.[0]?.healthy === true) return;
        last = `status ${res.status}: ${JSON.stringify(body).slice(0, 300)}`;
      } else {
        last = `/healthz answered ${health.status}`;
      }
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  const why = child.isRunning() ? `not ready within ${READY_TIMEOUT_MS} ms (last: ${last})` : 'exited';
  throw new Error(`${child.name} ${why}; its log:\n${tail(child.logFile)}`);
}

export async function startCutover(
  dir: string,
  workers: number,
  port: number,
  apiPort: number,
  upstream: Upstream,
  tls?: CutoverTls,
  /** Another checkout to run instead of this one (`--baseline`): its row is named `cutover@base`. */
  root = repoRoot,
): Promise<Target> {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'cutover.yaml');
  writeFileSync(file, config(dir, workers, port, apiPort, upstream, tls));
  const token = randomBytes(24).toString('hex');
  const name = (workers === 1 ? 'cutover' : `cutover-w${workers}`) + (root === repoRoot ? '' : '@base');
  const child = startProcess(name, process.execPath, [path.join(root, 'src/cli/main.ts'), 'up', '-c', file], {
    cwd: root,
    env: { ...process.env, CUTOVER_TOKEN: token },
    logFile: path.join(dir, 'cutover.log'),
  });
  const client = api(apiPort, token);
  try {
    await waitReady(child, client);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return {
    name,
    kind: 'cutover',
    workers,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}/`,
    pid: child.pid,
    switchEveryMs: 100,
    async switchTo(slot: Slot) {
      const res = await client.post(`/api/v1/services/${SERVICE}/switch`, { slot });
      const body = (await res.json()) as { live?: string };
      if (res.status !== 200 || body.live !== slot) {
        throw new Error(`switch to ${slot} answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
      }
    },
    close: () => child.stop('SIGTERM', 10_000),
  };
}
