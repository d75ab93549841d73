// `npm run bench -- --false-alarms`: a healthy release with realistic latency jitter (1-50 ms, 1% at
// 200 ms; bench/apps/mttr-app.js `jitter*`) under a steady load, watched by analysis for the whole
// run, must not be rolled back: with the default settings and with the fastest ones the MTTR round uses.
// Both run the error-rate rule and a p99 rule (max 500ms), since jitter only matters to a latency rule.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { analysisFor, deploy, ENDED, follow, goLive, startDaemon, steadyLoad, type Setting } from './mttr.ts';
import { sleep, stopAll } from './proc.ts';

const log = (line: string) => process.stderr.write(`bench false-alarms: ${line}\n`);

export interface FalseAlarmRow {
  setting: Setting;
  seconds: number;
  requests: number;
  clientFailures: number;
  latencyMaxMs: number;
  phase: string;
  rollbacks: number;
  verdict: string;
  /** Analysis ticks that failed a rule (a failureLimit of them in a row rolls back). */
  failedTicks: number;
  ticks: number;
  reason: string;
}

async function oneRelease(dir: string, setting: Setting, seconds: number, rate: number): Promise<FalseAlarmRow> {
  const d = await startDaemon(dir, analysisFor(setting, true, `${seconds}s`));
  try {
    await goLive(d, 'jitter-v1');
    const load = steadyLoad(d.port, rate, (seconds + 90) * 1000);
    await sleep(1000);
    const id = await deploy(d, 'jitter-v2');
    const end = await follow(d, id, (r) => ENDED.includes(r.phase), (seconds + 60) * 1000);
    const res = await load.stop();
    const ticks = ((end.events ?? []) as any[]).filter((e) => e.type === 'analysis' && e.data?.kind === 'tick');
    const failedTicks = ticks.filter((e) => e.data?.tick?.verdict === 'fail').length;
    const verdict = ((end.analysis ?? []) as any[]).map((a) => `${a.label}: ${a.state}`).join(', ') || '-';
    return {
      setting,
      seconds,
      requests: res.requests,
      clientFailures: res.failed,
      latencyMaxMs: Math.round(res.latencyMaxMs),
      phase: end.phase,
      rollbacks: end.phase === 'rolled-back' ? 1 : 0,
      verdict,
      failedTicks,
      ticks: ticks.length,
      reason: String(end.reason ?? ''),
    };
  } finally {
    await d.close();
  }
}

export async function runFalseAlarms(o: { seconds: number; rate: number; settings: Setting[]; keep: boolean }): Promise<FalseAlarmRow[]> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cutover-bench-false-alarms-'));
  const rows: FalseAlarmRow[] = [];
  try {
    for (const setting of o.settings) {
      const row = await oneRelease(path.join(tmp, setting), setting, o.seconds, o.rate);
      log(
        `${setting}: ${row.phase} after ${row.seconds} s, ${row.requests} requests, ${row.clientFailures} failed, ${row.failedTicks}/${row.ticks} ticks failed; ${row.verdict}`,
      );
      rows.push(row);
    }
  } finally {
    await stopAll();
    if (o.keep) log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
  return rows;
}

export function formatFalseAlarms(rows: FalseAlarmRow[], rate: number): string {
  const lines = [
    `false alarms: a healthy release with latency jitter under load (${rate} requests/s, open loop), rules error_rate <= 1% and p99 <= 500ms`,
    'setting   seconds   requests   client failures   max latency ms   failed ticks   rollbacks   verdict',
  ];
  for (const r of rows) {
    lines.push(
      `${r.setting.padEnd(8)}  ${String(r.seconds).padStart(7)}   ${String(r.requests).padStart(8)}   ${String(r.clientFailures).padStart(15)}   ${String(r.latencyMaxMs).padStart(14)}   ${`${r.failedTicks}/${r.ticks}`.padStart(12)}   ${String(r.rollbacks).padStart(9)}   ${r.phase} (${r.verdict})`,
    );
  }
  return lines.join('\n');
}
