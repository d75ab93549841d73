// What the fleet tests share: the store URL of a test etcd cluster, a `cutover` process started and
// waited for (its output kept for the failure message, stopped with a SIGKILL fallback), and the API
// of a controller called with the test token.
import { spawn, type ChildProcess } from 'node:child_process';
import type { EtcdCluster } from './etcd-cluster.ts';
import { CLI, GiveUp, waitFor } from './helpers.ts';

/** The `store:` value for a cluster and a key prefix of its own (one per test keeps them apart). */
export function etcdStoreUrl(cluster: EtcdCluster, prefix: string): string {
  return `etcd://${cluster.endpoints.map((e) => e.replace('http://', '')).join(',')}${prefix}`;
}

export interface Proc {
  name: string;
  child: ChildProcess;
  output: () => string;
  /** Sends the signal (SIGTERM by default), SIGKILL after 8 s, and waits until the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** The cutover processes a test file started and has not stopped: what its `after` kills. */
export class Procs {
  readonly running = new Set<Proc>();
  readonly #token: string;

  constructor(token: string) {
    this.#token = token;
  }

  /** Starts `cutover <args>` and resolves once its output matches `ready`; fails with the output if it exits first. */
  launch(name: string, args: string[], ready: RegExp, timeoutMs = 40_000): Promise<Proc> {
    let out = '';
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, CUTOVER_TOKEN: this.#token, CUTOVER_LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const proc: Proc = {
      name,
      child,
      output: () => out,
      kill: async (signal = 'SIGTERM') => {
        this.running.delete(proc);
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill(signal);
        const t = setTimeout(() => child.kill('SIGKILL'), 8000);
        await exited;
        clearTimeout(t);
      },
    };
    this.running.add(proc);
    return waitFor(
      `${name} to start`,
      () => {
        if (child.exitCode !== null) throw new GiveUp(`${name} exited ${child.exitCode}: ${out}`);
        return ready.test(out) ? proc : undefined;
      },
      timeoutMs,
    );
  }

  /**
   * Stops every process still running (a test's `after`): SIGTERM, so that a controller's supervisor
   * and its routers stop with it instead of serving on for their grace; SIGKILL after 8 s.
   */
  async killAll(): Promise<void> {
    await Promise.all([...this.running].map((p) => p.kill('SIGTERM')));
  }

  /** A call to a controller's API with the token these processes were started with. */
  async api(apiPort: number, method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<{ status: number; json: any }> {
    const res = await fetch(`http://127.0.0.1:${apiPort}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, json: (await res.json()) as any };
  }
}
