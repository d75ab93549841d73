// The load gate: a steady rate of requests (autocannon) straight at the idle slot's targets, judged on
// error rate and p99 latency.
//
// Direct, not through the router: the router is shared with the live slot, so load sent through it
// would take CPU and connections from users' requests while the gate runs, and the numbers would mix
// the router's cost with the version's. The http gate already proves the path through the router.
// Only when the idle slot's targets are unknown (directTargets empty) does load go through the
// preview route, with the preview header.
import autocannon, { type Result } from 'autocannon';
import { performance } from 'node:perf_hooks';
import { deadline, formatMs, percent, redact } from './common.ts';
import type { GateContext, GateResult, LoadGate } from './types.ts';

/** Fewer completed requests than this cannot judge a version: the gate errs instead of passing. */
export const MIN_REQUESTS = 10;
/** Without its own timeout, a load gate may run this much longer than its duration. */
export const LOAD_TIMEOUT_SLACK_MS = 30_000;
/** Seconds autocannon waits for one response before counting it as an error. */
export const REQUEST_TIMEOUT_S = 10;
const SAMPLE_MS = 100;

export interface LoadStats {
  via: 'direct' | 'preview';
  targets: string[];
  rate: number;
  durationMs: number;
  connections: number;
  /** Responses plus request errors (connection errors and timeouts). */
  requests: number;
  responses: number;
  /** Responses with a status under 200 or 400 and above, plus request errors. */
  failed: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  errorRate: number;
  achievedRate: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  maxErrorRate: number;
  maxP99?: number;
}

export async function runLoadGate(gate: LoadGate, ctx: GateContext): Promise<GateResult> {
  const started = performance.now();
  const name = `load: ${gate.rate} req/s for ${formatMs(gate.duration)}`;
  const direct = ctx.directTargets.length > 0;
  const urls = direct ? ctx.directTargets.map((t) => `http://${t}/`) : [ctx.previewUrl.replace(/\/?$/, '/')];
  // autocannon gives connection i the URL i % urls: a multiple of the targets spreads load evenly.
  const connections = Math.ceil(Math.max(gate.connections, urls.length) / urls.length) * urls.length;
  const total = Math.max(connections, Math.round((gate.rate * gate.duration) / 1000));
  const timeout = gate.timeout ?? gate.duration + LOAD_TIMEOUT_SLACK_MS;
  const dl = deadline(timeout, ctx.signal);
  const finish = (outcome: GateResult['outcome'], summary: string, details: Record<string, unknown>): GateResult =>
    redact({ kind: 'load', name, outcome, durationMs: Math.round(performance.now() - started), summary, details }, ctx.previewToken);

  if (dl.signal.aborted) {
    dl.clear();
    return finish('error', 'not run: the release was aborted', { aborted: true });
  }
  ctx.log?.debug('load gate started', { via: direct ? 'direct' : 'preview', targets: ctx.directTargets, rate: gate.rate, connections });

  let result: Result;
  try {
    result = await new Promise<Result>((resolve, reject) => {
      const instance = autocannon(
        {
          url: urls,
          connections,
          duration: gate.duration / 1000,
          overallRate: gate.rate,
          // autocannon's rate is a budget per connection per second, refilled on a 1 s timer, so a
          // run of D seconds can send up to rate x (D + 1); the cap makes it exactly rate x D.
          maxOverallRequests: total,
          timeout: REQUEST_TIMEOUT_S,
          // The run ends at the first sample after its duration: sample often, so it ends on time.
          sampleInt: SAMPLE_MS,
          headers: direct ? {} : { [ctx.previewHeader]: ctx.previewToken },
          // autocannon corrects for coordinated omission with a 1 ms expected interval whatever the
          // rate, which fills the histogram with made-up samples; we report latencies as measured.
          ignoreCoordinatedOmission: true,
        },
        (err, res) => (err ? reject(err) : resolve(res)),
      );
      // At the timeout or an abort, autocannon stops and still reports what it measured.
      dl.signal.addEventListener('abort', () => instance.stop(), { once: true });
    });
  } catch (err) {
    return finish('error', `could not run the load: ${(err as Error).message}`, {});
  } finally {
    dl.clear();
  }

  const stats = statsOf(result, {
    via: direct ? 'direct' : 'preview',
    urls: direct ? ctx.directTargets : [ctx.previewUrl],
    rate: gate.rate,
    connections,
    gate,
  });
  const details = { ...stats } as Record<string, unknown>;
  const numbers = `${stats.requests} requests, error rate ${percent(stats.errorRate)}, p99 ${formatMs(stats.latencyMs.p99)}`;
  const stopped = dl.reason();
  if (stopped === 'aborted') return finish('error', `stopped: the release was aborted (${numbers})`, { ...details, aborted: true });
  if (stopped === 'timeout') return finish('timeout', `did not finish within its timeout (${formatMs(timeout)}): ${numbers}`, details);
  if (stats.requests < MIN_REQUESTS) {
    return finish(
      'error',
      `only ${stats.requests} requests completed in ${formatMs(stats.durationMs)}, too few to judge (at least ${MIN_REQUESTS}); raise rate or duration, or check that ${stats.targets.join(', ')} answers`,
      details,
    );
  }
  const problems: string[] = [];
  if (stats.errorRate > gate.maxErrorRate)
    problems.push(
      `error rate ${percent(stats.errorRate)} above ${percent(gate.maxErrorRate)} (${stats.failed} of ${stats.requests} requests)`,
    );
  if (gate.maxP99 !== undefined && stats.latencyMs.p99 > gate.maxP99)
    problems.push(`p99 ${formatMs(stats.latencyMs.p99)} above ${formatMs(gate.maxP99)}`);
  if (problems.length > 0)
    return finish('failed', `${problems.join('; ')}; ${stats.requests} requests at ${Math.round(stats.achievedRate)} req/s`, details);
  return finish('passed', `${numbers} at ${Math.round(stats.achievedRate)} req/s`, details);
}

function statsOf(
  r: Result,
  o: { via: 'direct' | 'preview'; urls: string[]; rate: number; connections: number; gate: LoadGate },
): LoadStats {
  const statusCodes: Record<string, number> = {};
  let responses = 0;
  let badStatus = 0;
  for (const [code, { count }] of Object.entries(r.statusCodeStats ?? {})) {
    statusCodes[code] = count;
    responses += count;
    const n = Number(code);
    if (n < 200 || n >= 400) badStatus += count;
  }
  const requests = responses + r.errors;
  const failed = badStatus + r.errors;
  const durationMs = Math.round(r.duration * 1000);
  const ms = (v: number): number => Math.round(v * 100) / 100;
  return {
    via: o.via,
    targets: o.urls,
    rate: o.rate,
    durationMs,
    connections: o.connections,
    requests,
    responses,
    failed,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes,
    errorRate: requests === 0 ? 0 : failed / requests,
    achievedRate: durationMs === 0 ? 0 : Math.round((requests / (durationMs / 1000)) * 10) / 10,
    latencyMs: { p50: ms(r.latency.p50), p90: ms(r.latency.p90), p99: ms(r.latency.p99), max: ms(r.latency.max), mean: ms(r.latency.mean) },
    maxErrorRate: o.gate.maxErrorRate,
    ...(o.gate.maxP99 !== undefined ? { maxP99: o.gate.maxP99 } : {}),
  };
}
