// The self cost of each function in a callgrind dump (`callgrind_annotate` shows only inclusive totals
// for node's binary), with V8's JIT code named from the process's `--perf-basic-prof` map
// (/tmp/perf-<pid>.map): callgrind knows JIT code only by address.
import { existsSync, readFileSync } from 'node:fs';

/** Self instructions by function name. */
export function selfCosts(file: string): Map<string, number> {
  const names = new Map<string, string>();
  const costs = new Map<string, number>();
  const nameOf = (tok: string): string => {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(tok);
    if (m === null) return tok;
    if (m[2] !== undefined) names.set(m[1] as string, m[2]);
    return names.get(m[1] as string) ?? tok;
  };
  let fn: string | null = null;
  let skipNext = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('fn=')) fn = nameOf(line.slice(3));
    else if (line.startsWith('cfn=')) nameOf(line.slice(4));
    else if (line.startsWith('calls='))
      skipNext = true; // the next cost line is the callee's, inclusive
    else if (/^[0-9+\-*]/.test(line)) {
      if (skipNext) {
        skipNext = false;
        continue;
      }
      const cost = Number(line.split(' ')[1]);
      if (fn !== null && Number.isFinite(cost)) costs.set(fn, (costs.get(fn) ?? 0) + cost);
    }
  }
  return costs;
}

/** Names JIT addresses (`0x...`) from a perf map; other names are kept. Costs of one name are summed. */
export function nameJit(costs: Map<string, number>, pid: number): Map<string, number> {
  const file = `/tmp/perf-${pid}.map`;
  if (!existsSync(file)) return costs;
  const ranges = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [start, size, ...name] = l.split(' ');
      return {
        start: Number.parseInt(start as string, 16),
        end: Number.parseInt(start as string, 16) + Number.parseInt(size as string, 16),
        name: name.join(' '),
      };
    })
    .sort((a, b) => a.start - b.start);
  const find = (addr: number): string | null => {
    let lo = 0;
    let hi = ranges.length - 1;
    let best: (typeof ranges)[number] | null = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = ranges[mid] as (typeof ranges)[number];
      if (r.start <= addr) {
        best = r;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best !== null && addr < best.end ? best.name : null;
  };
  const out = new Map<string, number>();
  for (const [name, cost] of costs) {
    const named = /^0x[0-9a-f]+$/.test(name) ? (find(Number.parseInt(name, 16)) ?? name) : name;
    out.set(named, (out.get(named) ?? 0) + cost);
  }
  return out;
}

/** The `n` largest self costs as lines: instructions per request, share, name. */
export function topFrames(costs: Map<string, number>, requests: number, n: number): string[] {
  const total = [...costs.values()].reduce((a, b) => a + b, 0);
  return [...costs]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(
      ([name, c]) =>
        `${Math.round(c / requests)
          .toLocaleString('en')
          .padStart(8)}  ${((c / total) * 100).toFixed(1).padStart(5)}%  ${name.slice(0, 120)}`,
    );
}
