// CPU time from /proc: of one process tree (a proxy with its workers), and of the whole machine.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined; // the process is gone
  }
}

/** User and kernel ticks of the process, its reaped children (nginx's old workers) included. */
function ownTicks(pid: number): { user: number; system: number } {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return { user: 0, system: 0 };
  // Fields after the command name, which may hold spaces: state is field 3, utime 14 .. cstime 17.
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  return { user: (f[11] ?? 0) + (f[13] ?? 0), system: (f[12] ?? 0) + (f[14] ?? 0) };
}

function children(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out = new Set<number>();
  for (const t of tasks) {
    for (const c of (read(`/proc/${pid}/task/${t}/children`) ?? '').split(' ')) if (c) out.add(Number(c));
  }
  return [...out];
}

/** Every pid in the tree rooted at `pid` (bounded depth: proxies are two levels deep at most). */
export function processTree(pid: number, depth = 4): number[] {
  if (depth === 0) return [pid];
  return [pid, ...children(pid).flatMap((c) => processTree(c, depth - 1))];
}

/** CPU seconds used so far by the tree rooted at `pid`, reaped children included: in total, and in the kernel. */
export function treeCpuSeconds(pid: number): { total: number; system: number } {
  let user = 0;
  let system = 0;
  for (const p of processTree(pid)) {
    const t = ownTicks(p);
    user += t.user;
    system += t.system;
  }
  return { total: (user + system) / TICKS_PER_SECOND, system: system / TICKS_PER_SECOND };
}

/** Busy and total CPU seconds of the whole machine, summed over its cores. */
export function machineCpuSeconds(): { busy: number; total: number } {
  const line = (read('/proc/stat') ?? '').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest is already inside user)
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: (total - idle) / TICKS_PER_SECOND, total: total / TICKS_PER_SECOND };
}

/** CPU seconds of this bench process itself, and of the children it has reaped (every finished wrk). */
export function selfCpuSeconds(): { own: number; reaped: number } {
  const stat = read('/proc/self/stat') ?? '';
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  return { own: ((f[11] ?? 0) + (f[12] ?? 0)) / TICKS_PER_SECOND, reaped: ((f[13] ?? 0) + (f[14] ?? 0)) / TICKS_PER_SECOND };
}
