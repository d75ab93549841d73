// `npm run bench -- --mttr`: how long users see a bad release before analysis rolls it back by itself.
// The real daemon runs bench/apps/mttr-app.js as a process service; v1 goes live, an open-loop load of
// keep-alive requests goes on the listener, then a version that answers 500 (or answers after 2 s) is
// deployed with an instant shift. MTTR is, as the clients see it, the time from the first failed
// answer to the last one. Median over runs, with the default analysis settings and the fastest safe
// ones. Not a timed test: nothing here asserts a time.
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { freePorts, sleep, startProcess, stopAll, tail, type Child } from './proc.ts';

const log = (line: string) => process.stderr.write(`bench mttr: ${line}\n`);
export const root = path.resolve(import.meta.dirname, '..');
const CLI = path.join(root, 'src/cli/main.ts');
const APP = path.join(root, 'bench/apps/mttr-app.js');
/** An answer slower than this is a failure for the user (the slow variant's app takes 2 s). */
export const SLOW_MS = 1000;
const SETTLE_TIMEOUT_MS = 60_000;

export type Variant = '500' | 'slow';
export type Setting = 'default' | 'fastest' | 'retry';

/**
 * The analysis block of each setting. `default` writes only the rules, so every other field is the
 * config's default (interval 100ms, failureLimit 2, minSamples 20, window 5m, inconclusive hold).
 * The slow variant adds `p99 <= 500ms`: a request in flight past the max counts as slow while it runs,
 * so the rollback comes about 0.2 s after the first requests pass 500 ms, before users' 1 s limit.
 *
 * `fastest`: interval 100ms, failureLimit 1, minSamples 20. One failing tick is enough because a tick
 * does not look at 100 ms alone: it judges a lookback of 10 intervals (1 s), so under this load (500
 * requests/s: 50 per interval, well over minSamples; 500 in the lookback) one tick is a rate over
 * hundreds of requests, not one unlucky answer; minSamples 20 keeps a trickle of traffic from deciding
 * anything, and a p99 waits for 100 requests anyway. Going below 100 ms buys little against the
 * client-visible floor and runs the analysis on the daemon's event loop (which also routes) ever more
 * often. The false-alarm round runs this setting for minutes on a healthy, jittery release to show it
 * is safe.
 */
export function analysisFor(setting: Setting, latencyRule: boolean, window?: string): Record<string, unknown> {
  const rules: Record<string, unknown>[] = [{ metric: 'error_rate', max: 0.01 }];
  if (latencyRule) rules.push({ metric: 'p99', max: '500ms' });
  // `retry`: the default timing with analysis.retryOnStandby, and a budget above the load's rate so
  // that every failed GET of the bad version can be sent to the old one (the budget's bound is tested).
  const base =
    setting === 'fastest'
      ? { interval: '100ms', failureLimit: 1, minSamples: 20 }
      : setting === 'retry'
        ? { retryOnStandby: true, retryBudget: 2000 }
        : {};
  return { ...base, rules, ...(window && { window }) };
}

// ---- the daemon ---------------------------------------------------------------------------------

export interface Daemon {
  port: number;
  child: Child;
  api(method: string, p: string, body?: unknown): Promise<{ status: number; json: any }>;
  close(): Promise<void>;
}

export async function startDaemon(dir: string, analysis: Record<string, unknown>): Promise<Daemon> {
  mkdirSync(dir, { recursive: true });
  const [port, apiPort] = (await freePorts(2)) as [number, number];
  const token = `bench-${randomUUID()}`;
  const file = path.join(dir, 'cutover.yaml');
  writeFileSync(
    file,
    stringify({
      api: { listen: `127.0.0.1:${apiPort}` },
      stateDir: path.join(dir, 'state'),
      services: {
        web: {
          listen: `127.0.0.1:${port}`,
          drain: '5s',
          provider: { kind: 'process', command: [process.execPath, APP, '{version}'], replicas: 1, stopGrace: '1s' },
          // Fast health checks only make provisioning (outside the measured span) quicker.
          health: { path: '/healthz', interval: '100ms' },
          analysis,
          standby: '10m',
        },
      },
    }),
  );
  const child = startProcess('cutover', process.execPath, [CLI, 'up', '-c', file], {
    logFile: path.join(dir, 'daemon.log'),
    env: { ...process.env, CUTOVER_TOKEN: token, CUTOVER_LOG_LEVEL: 'warn' },
  });
  const api = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${apiPort}/api/v1${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: res.status, json: (await res.json()) as any };
  };
  for (let i = 0; ; i++) {
    if (!child.isRunning()) throw new Error(`the daemon exited; its log:\n${tail(child.logFile)}`);
    if (i > 300) throw new Error(`the daemon API did not answer; its log:\n${tail(child.logFile)}`);
    const ok = await fetch(`http://127.0.0.1:${apiPort}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await sleep(100);
  }
  return { port, child, api, close: () => child.stop('SIGTERM', 10_000) };
}

export async function deploy(d: Daemon, version: string): Promise<string> {
  const r = await d.api('POST', '/services/web/releases', { version });
  if (r.status !== 202) throw new Error(`deploy ${version}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.id as string;
}

/** Polls a release until `done` says it is done with it, or `timeoutMs`; returns the last status. */
export async function follow(d: Daemon, id: string, done: (r: any) => boolean, timeoutMs = SETTLE_TIMEOUT_MS): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = (await d.api('GET', `/services/web/releases/${id}`)).json;
    if (done(r) || Date.now() > deadline) return r;
    await sleep(100);
  }
}

export const ENDED = ['promoted', 'retired', 'failed', 'aborted', 'rolled-back'];

/** Deploys `version` and makes it live: with no traffic, observing holds, so it is promoted by hand. */
export async function goLive(d: Daemon, version: string): Promise<void> {
  const id = await deploy(d, version);
  let r = await follow(d, id, (r) => r.phase === 'observing' || ENDED.includes(r.phase));
  if (r.phase === 'observing') {
    await d.api('POST', '/services/web/promote', {});
    r = await follow(d, id, (r) => ENDED.includes(r.phase));
  }
  if (r.phase !== 'promoted' && r.phase !== 'retired') throw new Error(`${version} did not go live: ${r.phase} ${r.reason ?? ''}`);
}

// ---- the load -----------------------------------------------------------------------------------

export interface LoadResult {
  requests: number;
  failed: number;
  /** Failures by kind: a non-2xx status, slower than SLOW_MS, a connection error, shed at the cap. */
  failedBy: { status: number; slow: number; error: number; shed: number };
  /** When each failure was seen, ms since the load started (performance.now() based). */
  failedAt: number[];
  latencyMaxMs: number;
  startedAt: number;
}

/** At most this many requests in flight (keep-alive connections); one more is shed and counted failed. */
export const MAX_IN_FLIGHT = 2000;

/**
 * An open-loop load on 127.0.0.1:port: `rate` requests a second whatever the answers take, as a
 * population of users would send them, over at most MAX_IN_FLIGHT keep-alive connections, until
 * stop(), `maxMs` or `maxRequests`. (Closed-loop clients would stop asking while a slow slot holds
 * them, hiding how long new users keep landing on it.) A failure is an error, a non-2xx answer, an
 * answer slower than SLOW_MS, or a request shed at the cap; it is seen when the answer (or error)
 * comes, or SLOW_MS after the request was sent for a slow one, since that is when the user gave up.
 */
export function steadyLoad(
  port: number,
  rate: number,
  maxMs: number,
  maxRequests = 5_000_000,
): { startedAt: number; stop(): Promise<LoadResult> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });
  const startedAt = performance.now();
  const deadline = startedAt + maxMs;
  const r: LoadResult = {
    requests: 0,
    failed: 0,
    failedBy: { status: 0, slow: 0, error: 0, shed: 0 },
    failedAt: [],
    latencyMaxMs: 0,
    startedAt,
  };
  let stopping = false;
  let inFlight = 0;
  let drained: () => void = () => {};
  const fail = (at: number) => {
    r.failed++;
    r.failedAt.push(at - startedAt);
  };
  const one = () => {
    const sent = performance.now();
    if (inFlight >= MAX_IN_FLIGHT) {
      r.failedBy.shed++;
      return fail(sent);
    }
    inFlight++;
    let done = false;
    const finish = (failedAt?: number) => {
      if (done) return;
      done = true;
      if (failedAt !== undefined) fail(failedAt);
      if (--inFlight === 0) drained();
    };
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => {
        const now = performance.now();
        const ms = now - sent;
        r.latencyMaxMs = Math.max(r.latencyMaxMs, ms);
        const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) <= 299;
        if (!done && ms > SLOW_MS) r.failedBy.slow++;
        else if (!done && !ok) r.failedBy.status++;
        finish(ms > SLOW_MS ? sent + SLOW_MS : ok ? undefined : now);
      });
      res.on('error', () => {
        if (!done) r.failedBy.error++;
        finish(performance.now());
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
    req.on('error', () => {
      if (!done) r.failedBy.error++;
      finish(performance.now());
    });
  };
  // Every 5 ms, send what is due by now.
  const loop = (async () => {
    while (!stopping && performance.now() < deadline && r.requests < maxRequests) {
      const due = Math.min(maxRequests, Math.floor(((performance.now() - startedAt) * rate) / 1000));
      for (; r.requests < due; r.requests++) one();
      await sleep(5);
    }
  })();
  return {
    startedAt,
    async stop() {
      stopping = true;
      await loop;
      if (inFlight > 0) await Promise.race([new Promise<void>((res) => (drained = res)), sleep(15_000)]);
      agent.destroy();
      r.failedAt.sort((a, b) => a - b);
      return r;
    },
  };
}

export const median = (xs: number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// ---- the round ----------------------------------------------------------------------------------

export interface MttrRun {
  variant: Variant;
  setting: Setting;
  run: number;
  mttrMs: number;
  failed: number;
  failedBy: LoadResult['failedBy'];
  requests: number;
  phase: string;
  reason: string;
  /** Release events relative to the first failure the clients saw, for where the time goes. */
  timeline: { atMs: number; type: string; message: string }[];
}

export interface MttrRow {
  variant: Variant;
  setting: Setting;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  rolledBack: number;
  rule: string;
  medianFailed: number;
}

async function oneRun(d: Daemon, variant: Variant, setting: Setting, run: number, rate: number): Promise<MttrRun> {
  const load = steadyLoad(d.port, rate, SETTLE_TIMEOUT_MS + 20_000);
  // Loopback time origin of the load, as wall-clock, to place the release's events on the same axis.
  const wallAtStart = Date.now() - (performance.now() - load.startedAt);
  await sleep(1000);
  const id = await deploy(d, variant === '500' ? 'bad500' : 'slow2s');
  let end = await follow(d, id, (r) => ENDED.includes(r.phase));
  if (!ENDED.includes(end.phase)) {
    log(`${variant}/${setting} run ${run}: still ${end.phase} after ${SETTLE_TIMEOUT_MS} ms; rolling back by hand`);
    await d.api('POST', '/services/web/rollback', {});
    end = await follow(d, id, (r) => ENDED.includes(r.phase), 20_000);
  }
  // Answers already on their way from the bad slot still arrive (2 s for the slow one).
  await sleep(variant === 'slow' ? 3000 : 1000);
  const res = await load.stop();
  const first = res.failedAt[0] ?? NaN;
  const last = res.failedAt.at(-1) ?? NaN;
  const timeline = ((end.events ?? []) as any[])
    .filter((e) => e.time && !(e.type === 'analysis' && e.data?.tick?.verdict === 'inconclusive'))
    .map((e) => ({
      atMs: Math.round(Date.parse(e.time) - wallAtStart - first),
      type: `${e.type}${e.data?.kind ? `/${e.data.kind}` : ''}`,
      message: String(e.reason ?? '').slice(0, 160),
    }))
    .filter((e) => e.atMs > -3000);
  return {
    variant,
    setting,
    run,
    mttrMs: last - first,
    failed: res.failed,
    failedBy: res.failedBy,
    requests: res.requests,
    phase: end.phase,
    reason: String(end.reason ?? ''),
    timeline,
  };
}

function ruleOf(reason: string): string {
  return /(error_rate|p50|p90|p99)/.exec(reason)?.[1] ?? '-';
}

export interface MttrOptions {
  runs: number;
  rate: number;
  variants: Variant[];
  settings: Setting[];
  keep: boolean;
}

export async function runMttr(o: MttrOptions): Promise<{ rows: MttrRow[]; runs: MttrRun[] }> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cutover-bench-mttr-'));
  const runs: MttrRun[] = [];
  const rows: MttrRow[] = [];
  try {
    for (const variant of o.variants) {
      for (const setting of o.settings) {
        const d = await startDaemon(path.join(tmp, `${variant}-${setting}`), analysisFor(setting, variant === 'slow'));
        try {
          await goLive(d, 'v1');
          const mine: MttrRun[] = [];
          for (let i = 1; i <= o.runs; i++) {
            const r = await oneRun(d, variant, setting, i, o.rate);
            log(
              `${variant}/${setting} run ${i}: MTTR ${Number.isFinite(r.mttrMs) ? r.mttrMs.toFixed(0) : '-'} ms, ${r.failed} failed (${Object.entries(
                r.failedBy,
              )
                .map(([k, n]) => `${k} ${n}`)
                .join(', ')}) of ${r.requests}, ${r.phase}: ${r.reason.slice(0, 120)}`,
            );
            mine.push(r);
          }
          runs.push(...mine);
          const ms = mine.map((r) => r.mttrMs);
          rows.push({
            variant,
            setting,
            runs: mine.length,
            medianMs: median(ms),
            minMs: Math.min(...ms),
            maxMs: Math.max(...ms),
            rolledBack: mine.filter((r) => r.phase === 'rolled-back' && r.reason.startsWith('analysis failed')).length,
            rule: [...new Set(mine.map((r) => ruleOf(r.reason)))].join(','),
            medianFailed: median(mine.map((r) => r.failed)),
          });
        } finally {
          await d.close();
        }
      }
    }
  } finally {
    await stopAll();
    if (o.keep) log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
  return { rows, runs };
}

export function formatMttr(rows: MttrRow[], rate: number): string {
  const lines = [
    `MTTR: first to last failed answer a client saw (median of runs; open-loop load of ${rate} requests/s, instant shift)`,
    'variant       setting  median ms   min ms   max ms   failed answers   rolled back   rule',
  ];
  // No failed answer at all (retryOnStandby): there is no first-to-last span to show.
  const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');
  for (const r of rows) {
    lines.push(
      `${(r.variant === '500' ? 'answers 500' : 'answers in 2s').padEnd(13)} ${r.setting.padEnd(8)} ${ms(r.medianMs).padStart(9)}   ${ms(r.minMs).padStart(6)}   ${ms(r.maxMs).padStart(6)}   ${String(r.medianFailed).padStart(14)}   ${`${r.rolledBack}/${r.runs}`.padStart(11)}   ${r.rule}`,
    );
  }
  return lines.join('\n');
}

/** Entry from bench/run.ts for `--mttr` and `--false-alarms`; prints the tables, writes bench/results/<time>-mttr.json. */
export async function main(o: import('./options.ts').Options): Promise<number> {
  const startedAt = new Date().toISOString();
  const settings: Setting[] = ['default', 'fastest', 'retry'];
  const onSignal = () => void stopAll().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const out: Record<string, unknown> = {
    kind: 'mttr',
    startedAt,
    options: o,
    machine: { cpus: os.availableParallelism(), node: process.version },
  };
  let bad = false;
  if (o.mttr) {
    const { rows, runs } = await runMttr({ runs: o.mttrRuns, rate: o.mttrRate, variants: ['500', 'slow'], settings, keep: o.keepTmp });
    process.stdout.write(`\n${formatMttr(rows, o.mttrRate)}\n`);
    out.mttr = { rows, runs };
    bad ||= rows.some((r) => r.rolledBack < r.runs);
  }
  if (o.falseAlarms) {
    const { formatFalseAlarms, runFalseAlarms } = await import('./false-alarms.ts');
    const rows = await runFalseAlarms({ seconds: o.falseAlarmsSeconds, rate: o.mttrRate, settings, keep: o.keepTmp });
    process.stdout.write(`\n${formatFalseAlarms(rows, o.mttrRate)}\n`);
    out.falseAlarms = rows;
    bad ||= rows.some((r) => r.rollbacks > 0);
  }
  const dir = path.join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${startedAt.replace(/\.\d+Z$/, 'Z').replaceAll(':', '-')}-mttr.json`);
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`results: ${path.relative(process.cwd(), file)}\n`);
  return bad ? 1 : 0;
}
