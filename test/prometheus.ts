// Debian's Prometheus (`/usr/bin/prometheus`) for the integration tests: installed when missing and we
// may, started in a temp dir on a free loopback port with the scrape jobs a test gives, stopped by PID.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, freePort, GiveUp, waitFor } from './helpers.ts';

export const PROMETHEUS = '/usr/bin/prometheus';

/** Installs Debian's prometheus when it is missing and we may (root); otherwise says how. */
export function ensurePrometheus(): void {
  if (existsSync(PROMETHEUS)) return;
  spawnSync('bash', [join(ROOT, 'scripts/install-system-deps.sh'), 'prometheus'], { stdio: 'inherit', timeout: 300_000 });
  if (!existsSync(PROMETHEUS))
    throw new Error(
      `${PROMETHEUS} is missing: run \`bash scripts/install-system-deps.sh prometheus\` as root (apt-get install prometheus)`,
    );
}

export type InstantSample = { metric: Record<string, string>; value: [number, string] };

export interface RunningPrometheus {
  /** Base URL, like http://127.0.0.1:40123. */
  url: string;
  output: () => string;
  /** An instant query's vector, straight from /api/v1/query; throws on an error answer. */
  query(promql: string): Promise<InstantSample[]>;
  stop(): Promise<void>;
}

/** Starts Prometheus scraping every second with the given `scrape_configs`, and waits until it is ready. */
export async function startPrometheus(scrapeConfigs: Record<string, unknown>[]): Promise<RunningPrometheus> {
  ensurePrometheus();
  const dir = mkdtempSync(join(tmpdir(), 'cutover-prometheus-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = join(dir, 'prometheus.yml');
  // JSON is YAML: no YAML writer needed for a fixed config.
  writeFileSync(config, JSON.stringify({ global: { scrape_interval: '1s', evaluation_interval: '1s' }, scrape_configs: scrapeConfigs }));
  let log = '';
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const pid = child.pid;
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(pid, 'SIGTERM');
      const t = setTimeout(() => child.exitCode === null && child.signalCode === null && process.kill(pid, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const query = async (promql: string): Promise<InstantSample[]> => {
    const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`, { signal: AbortSignal.timeout(3000) });
    const body = (await res.json()) as { status: string; error?: string; data?: { result?: InstantSample[] } };
    if (body.status !== 'success') throw new Error(`Prometheus rejected ${promql}: ${body.error}`);
    return body.data?.result ?? [];
  };
  try {
    await waitFor(
      'Prometheus to be ready',
      async () => {
        if (child.exitCode !== null) throw new GiveUp(`prometheus exited ${child.exitCode}: ${log}`);
        return (await fetch(`${url}/-/ready`)).ok;
      },
      30_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, output: () => log, query, stop };
}
