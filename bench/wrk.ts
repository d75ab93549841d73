// Runs wrk once and reads its report: throughput, latency percentiles, and every kind of failure it counts.
import { execFile } from 'node:child_process';

export interface WrkOptions {
  url: string;
  seconds: number;
  connections: number;
  threads: number;
}

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p75Ms: number;
  p90Ms: number;
  p99Ms: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  non2xx3xx: number;
  /** Socket errors of every kind plus non-2xx/3xx answers. */
  failed: number;
}

const UNIT_MS: Record<string, number> = { us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

function durationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text);
  if (!m) throw new Error(`wrk: cannot read the duration "${text}"`);
  // Rounded to nanoseconds so 472.00us reads as 0.472, not 0.47200000000000003.
  return Math.round(Number(m[1]) * (UNIT_MS[m[2] as string] as number) * 1e6) / 1e6;
}

function num(out: string, re: RegExp, what: string): string {
  const m = re.exec(out);
  if (!m?.[1]) throw new Error(`wrk: no ${what} in its output:\n${out}`);
  return m[1];
}

export function parseWrk(out: string): WrkResult {
  const pct = (p: number) => durationMs(num(out, new RegExp(`^\\s+${p}%\\s+(\\S+)\\s*$`, 'm'), `${p}% latency`));
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = {
    connect: Number(socket?.[1] ?? 0),
    read: Number(socket?.[2] ?? 0),
    write: Number(socket?.[3] ?? 0),
    timeout: Number(socket?.[4] ?? 0),
  };
  const non2xx3xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const requests = Number(num(out, /(\d+) requests in/, 'request count'));
  return {
    requests,
    seconds: durationMs(num(out, /\d+ requests in ([\d.]+\w+),/, 'run time')) / 1000,
    rps: Number(num(out, /Requests\/sec:\s+([\d.]+)/, 'Requests/sec')),
    p50Ms: pct(50),
    p75Ms: pct(75),
    p90Ms: pct(90),
    p99Ms: pct(99),
    socketErrors,
    non2xx3xx,
    failed: socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout + non2xx3xx,
  };
}

export function runWrk(o: WrkOptions): Promise<WrkResult & { output: string }> {
  const args = ['-t', String(o.threads), '-c', String(o.connections), '-d', `${o.seconds}s`, '--timeout', '2s', '--latency', o.url];
  return new Promise((resolve, reject) => {
    // wrk stops by itself after the duration; the timeout only guards against a hang.
    execFile('wrk', args, { timeout: (o.seconds + 30) * 1000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`wrk ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      try {
        resolve({ ...parseWrk(stdout), output: stdout });
      } catch (e) {
        reject(e);
      }
    });
  });
}
