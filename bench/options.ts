// Command-line options of `npm run bench -- ...`.
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { Kind } from './target.ts';

export interface Options {
  seconds: number;
  rounds: number;
  /** Proxies to compare; the upstream hit directly is always measured. */
  only: Exclude<Kind, 'direct' | 'floor'>[];
  /** Worker counts (HAProxy: threads) each proxy is measured with. */
  workers: number[];
  switchSeconds: number;
  warmupSeconds: number;
  connections: number;
  threads: number;
  /** Percent of the machine used by other processes above which a run is measured again. */
  maxNoise: number;
  retries: number;
  keepTmp: boolean;
  /** Another checkout of cutover measured beside this one (before/after in one run), or null. */
  baseline: string | null;
  /** Release rounds (bench/mttr.ts, bench/false-alarms.ts); either one runs instead of the wrk rounds. */
  mttr: boolean;
  mttrRuns: number;
  mttrRate: number;
  falseAlarms: boolean;
  falseAlarmsSeconds: number;
}

export const usage = `usage: npm run bench -- [options]

  --duration S         seconds per wrk run (default 10)
  --rounds N           interleaved rounds; medians are reported (default 3)
  --only LIST          proxies to compare: cutover,nginx,haproxy (default all; direct and floor always run)
  --workers LIST       worker counts per proxy (default 1,<cores>)
  --switch-duration S  seconds of each switch-under-load round; 0 skips them (default 10)
  --warmup S           unrecorded seconds of load per target before round 1 (default 2)
  --connections N      wrk connections (default 50)
  --threads N          wrk threads (default 1)
  --max-noise P        measure a run again when other processes used more than P% of the machine (default 10)
  --retries N          at most this many extra runs per measurement for noise (default 2)
  --keep               keep the temporary directory (configs, logs) and print where it is
  --baseline DIR       also measure the cutover of another checkout (with its node_modules) as cutover@base

  --mttr               instead of the wrk rounds: time users see a bad release until analysis rolls it back
  --mttr-runs N        runs per variant and setting; medians are reported (default 5)
  --mttr-rate N        requests/s of the MTTR and false-alarm load, open loop over keep-alive connections (default 500)
  --false-alarms       instead of the wrk rounds: a healthy, jittery release under load must not roll back
  --false-alarms-seconds S  how long each false-alarm release is watched (default 120)

  --memory             instead of the wrk rounds: RSS of cutover, nginx and a bare Node process (the floor, as
                       Node starts it and with the router's V8 flags) with many idle keep-alive connections;
                       --only cutover,nginx,floor picks among them
  --memory-connections N  connections held open (default 10000)
  --memory-rounds N    rounds of open-all, measure, close-all (default 10)
`;

const KINDS = ['cutover', 'nginx', 'haproxy'] as const;

function int(name: string, v: string | undefined, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}, not "${v}"`);
  return n;
}

export function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      rounds: { type: 'string' },
      only: { type: 'string' },
      workers: { type: 'string' },
      'switch-duration': { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      threads: { type: 'string' },
      'max-noise': { type: 'string' },
      retries: { type: 'string' },
      keep: { type: 'boolean', default: false },
      baseline: { type: 'string' },
      mttr: { type: 'boolean', default: false },
      'mttr-runs': { type: 'string' },
      'mttr-rate': { type: 'string' },
      'false-alarms': { type: 'boolean', default: false },
      'false-alarms-seconds': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  const only = (values.only ?? KINDS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const k of only) {
    if (!(KINDS as readonly string[]).includes(k)) throw new Error(`--only takes ${KINDS.join(', ')}, not "${k}"`);
  }
  const cores = os.availableParallelism();
  const workers = [...new Set((values.workers ?? `1,${cores}`).split(',').map((w) => int('workers', w.trim(), 1, 1, 64)))];
  return {
    seconds: int('duration', values.duration, 10, 1, 600),
    rounds: int('rounds', values.rounds, 3, 1, 20),
    only: only as Options['only'],
    workers,
    switchSeconds: int('switch-duration', values['switch-duration'], 10, 0, 600),
    warmupSeconds: int('warmup', values.warmup, 2, 0, 60),
    connections: int('connections', values.connections, 50, 1, 10_000),
    threads: int('threads', values.threads, 1, 1, 64),
    maxNoise: int('max-noise', values['max-noise'], 10, 0, 100),
    retries: int('retries', values.retries, 2, 0, 10),
    keepTmp: values.keep,
    baseline: values.baseline ?? null,
    mttr: values.mttr,
    mttrRuns: int('mttr-runs', values['mttr-runs'], 5, 1, 50),
    mttrRate: int('mttr-rate', values['mttr-rate'], 500, 50, 5000),
    falseAlarms: values['false-alarms'],
    falseAlarmsSeconds: int('false-alarms-seconds', values['false-alarms-seconds'], 120, 5, 3600),
  };
}
