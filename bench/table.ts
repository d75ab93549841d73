// Turns the raw runs into one row per target and mode (medians over rounds, failures summed),
// with ratios to nginx (same worker count, same mode), to Node's floor and to the upstream hit directly; prints them.
import type { SwitchStats } from './switching.ts';
import type { Kind } from './target.ts';
import type { WrkResult } from './wrk.ts';

export type Mode = 'steady' | 'switching';

export interface Run {
  target: string;
  kind: Kind;
  workers: number;
  mode: Mode;
  round: number;
  wrk: WrkResult;
  /** CPU of the target's process tree per request (for `direct`: the upstream nginx's). */
  cpuUsPerReq: number;
  /** Share of that CPU spent in the kernel (syscalls, loopback TCP). */
  cpuSystemPct: number;
  upstreamCpuUsPerReq: number;
  wrkCpuUsPerReq: number;
  /** Share of the machine's CPU (all cores) busy during the run: 100 means no headroom at all. */
  machineBusyPct: number;
  /** Of that, what processes outside the bench used. */
  otherBusyPct: number;
  switching?: SwitchStats;
}

export interface Row {
  target: string;
  kind: Kind;
  workers: number;
  mode: Mode;
  rounds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Summed over every round: one failure anywhere counts. */
  failed: number;
  requests: number;
  cpuUsPerReq: number;
  cpuSystemPct: number;
  upstreamCpuUsPerReq: number;
  wrkCpuUsPerReq: number;
  machineBusyPct: number;
  otherBusyPct: number;
  xNginx?: number;
  xDirect?: number;
  /** Against Node's floor: a plain net pipe in the same runtime (bench/apps/floor-pipe.ts). */
  xFloor?: number;
  p99xNginx?: number;
  switches?: number;
  switchErrors?: number;
  /** Median time one switch took to be acknowledged (cutover: by every worker). */
  switchP50Ms?: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function summarise(runs: Run[]): Row[] {
  const groups = new Map<string, Run[]>();
  for (const r of runs) {
    const key = `${r.target}/${r.mode}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const rows: Row[] = [...groups.values()].map((g) => {
    const first = g[0] as Run;
    const sw = g.filter((r) => r.switching).map((r) => r.switching as SwitchStats);
    return {
      target: first.target,
      kind: first.kind,
      workers: first.workers,
      mode: first.mode,
      rounds: g.length,
      rps: median(g.map((r) => r.wrk.rps)),
      p50Ms: median(g.map((r) => r.wrk.p50Ms)),
      p99Ms: median(g.map((r) => r.wrk.p99Ms)),
      failed: g.reduce((s, r) => s + r.wrk.failed, 0),
      requests: g.reduce((s, r) => s + r.wrk.requests, 0),
      cpuUsPerReq: median(g.map((r) => r.cpuUsPerReq)),
      cpuSystemPct: median(g.map((r) => r.cpuSystemPct)),
      upstreamCpuUsPerReq: median(g.map((r) => r.upstreamCpuUsPerReq)),
      wrkCpuUsPerReq: median(g.map((r) => r.wrkCpuUsPerReq)),
      machineBusyPct: median(g.map((r) => r.machineBusyPct)),
      otherBusyPct: median(g.map((r) => r.otherBusyPct)),
      ...(sw.length > 0 && {
        switches: sw.reduce((s, x) => s + x.switches, 0),
        switchErrors: sw.reduce((s, x) => s + x.switchErrors, 0),
        switchP50Ms: median(sw.map((x) => x.p50Ms)),
      }),
    };
  });
  const order: Record<Kind, number> = { direct: 0, floor: 1, cutover: 2, nginx: 3, haproxy: 4 };
  rows.sort((a, b) => (a.mode === b.mode ? 0 : a.mode === 'steady' ? -1 : 1) || a.workers - b.workers || order[a.kind] - order[b.kind]);
  const direct = rows.find((r) => r.kind === 'direct' && r.mode === 'steady');
  const floor = rows.find((r) => r.kind === 'floor' && r.mode === 'steady');
  for (const row of rows) {
    const nginx = rows.find((r) => r.kind === 'nginx' && r.workers === row.workers && r.mode === row.mode);
    if (nginx) {
      row.xNginx = row.rps / nginx.rps;
      row.p99xNginx = row.p99Ms / nginx.p99Ms;
    }
    if (direct) row.xDirect = row.rps / direct.rps;
    if (floor) row.xFloor = row.rps / floor.rps;
  }
  return rows;
}

const ms = (v: number) => (v < 1 ? `${Math.round(v * 1000)}µs` : `${v.toFixed(2)}ms`);
const x = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(2)}×`);

export function formatTable(rows: Row[]): string {
  const head = [
    'target',
    'req/s',
    '×nginx',
    '×floor',
    '×direct',
    'p50',
    'p99',
    'p99 ×nginx',
    'failed',
    'CPU µs/req',
    'in kernel',
    'switches',
  ];
  const body = rows.map((r) => [
    r.mode === 'switching' ? `${r.target} switching` : r.target,
    Math.round(r.rps).toString(),
    x(r.xNginx),
    x(r.xFloor),
    x(r.xDirect),
    ms(r.p50Ms),
    ms(r.p99Ms),
    x(r.p99xNginx),
    r.failed.toString(),
    r.cpuUsPerReq.toFixed(1),
    `${r.cpuSystemPct.toFixed(0)}%`,
    r.switches === undefined ? '-' : `${r.switches} in ${ms(r.switchP50Ms ?? 0)}${r.switchErrors ? `, ${r.switchErrors} failed` : ''}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
