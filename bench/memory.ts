// `npm run bench -- --memory`: resident memory of the router with many idle keep-alive client
// connections (each has carried one request), beside nginx's with the same connections, and whether
// it comes back down after they close: `--memory-rounds` rounds of open-all, measure, close-all. Node's
// own floor runs beside them: a bare `net` server (bench/apps/floor-idle.ts) holding the same
// connections, once as Node starts it and once with the router processes' V8 flags.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, startCutover } from './cutover.ts';
import { startNginxProxy, startUpstream } from './nginx.ts';
import { ROUTER_EXEC_ARGV } from '../src/router/workers.ts';
import { freePorts, sleep, startProcess, stopAll, waitForPort } from './proc.ts';
import type { Target } from './target.ts';
import { parseArgs } from 'node:util';

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

/** Resident set of each process of a tree (cutover's daemon, supervisor and router; nginx's master and worker), in KB, by pid. */
function treeRss(pid: number): Map<number, number> {
  const rss = new Map<number, number>();
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop() as number;
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      rss.set(p, Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0));
      for (const t of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').split(' ').filter(Boolean)) stack.push(Number(t));
    } catch {
      // the process ended between listing and reading
    }
  }
  return rss;
}

/** A bare Node process holding idle connections (bench/apps/floor-idle.ts), started with `flags` and `env`. */
async function startFloorIdle(dir: string, name: string, port: number, flags: string[], env: Record<string, string> = {}): Promise<Target> {
  const child = startProcess(name, process.execPath, [...flags, path.join(repoRoot, 'bench/apps/floor-idle.ts'), String(port)], {
    logFile: path.join(dir, `${name}.log`),
    env: { ...process.env, ...env },
  });
  await waitForPort(child, port);
  return { name, kind: 'floor', workers: 1, url: `http://127.0.0.1:${port}/`, pid: child.pid, close: () => child.stop() };
}

const sum = (m: Map<number, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

/** Opens `count` connections, sends one keep-alive GET on each and waits for every answer. */
async function openIdle(port: number, count: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  const batch = 500;
  for (let i = 0; i < count; i += batch) {
    const opened = Array.from(
      { length: Math.min(batch, count - i) },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1');
          s.setTimeout(15_000, () => s.destroy(new Error('no answer within 15 s')));
          s.once('error', reject);
          s.once('connect', () => s.write('GET / HTTP/1.1\r\nHost: bench\r\n\r\n'));
          s.once('data', () => {
            s.setTimeout(0);
            resolve(s);
          });
        }),
    );
    sockets.push(...(await Promise.all(opened)));
  }
  return sockets;
}

async function closeAll(sockets: net.Socket[], target: Target): Promise<void> {
  for (const s of sockets) s.destroy();
  // Give the proxy a moment to see every close and let go of what each connection held.
  await sleep(1000);
  void target;
}

export interface MemoryRow {
  target: string;
  connections: number;
  idleKb: number;
  /** Per round: RSS with every connection open, and after they closed. */
  openKb: number[];
  afterKb: number[];
  /** The same for the one process whose RSS grew most with the connections open (cutover: its router). */
  busiest: { pid: number; idleKb: number; openKb: number[]; afterKb: number[] };
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'memory-connections': { type: 'string' },
      'memory-rounds': { type: 'string' },
      baseline: { type: 'string' },
      only: { type: 'string' },
    },
  });
  const only = (values.only ?? 'cutover,nginx,floor').split(',');
  if (only.some((k) => !['cutover', 'nginx', 'floor'].includes(k))) {
    process.stderr.write('bench: --only takes a list of cutover, nginx, floor with --memory\n');
    return 2;
  }
  const connections = Number(values['memory-connections'] ?? 10_000);
  const rounds = Number(values['memory-rounds'] ?? 10);
  if (!Number.isInteger(connections) || connections < 1 || !Number.isInteger(rounds) || rounds < 1) {
    process.stderr.write('bench: --memory-connections and --memory-rounds take whole numbers\n');
    return 2;
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cutover-bench-mem-'));
  const rows: MemoryRow[] = [];
  try {
    const [blue, green, cutPort, cutApi, ngxPort, basePort, baseApi, floorPort, floorFlagsPort] = (await freePorts(9)) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const upstream = await startUpstream(path.join(tmp, 'upstream'), blue, green);
    for (const dir of ['cutover', 'cutover@base', 'nginx', 'floor']) mkdirSync(path.join(tmp, dir), { recursive: true });
    const targets: Target[] = [];
    if (only.includes('cutover')) targets.push(await startCutover(path.join(tmp, 'cutover'), 1, cutPort, cutApi, upstream));
    if (only.includes('cutover') && values.baseline !== undefined)
      targets.push(
        await startCutover(path.join(tmp, 'cutover@base'), 1, basePort, baseApi, upstream, undefined, path.resolve(values.baseline)),
      );
    if (only.includes('nginx')) targets.push(await startNginxProxy(path.join(tmp, 'nginx'), 1, ngxPort, upstream));
    if (only.includes('floor')) {
      targets.push(await startFloorIdle(path.join(tmp, 'floor'), 'floor', floorPort, []));
      targets.push(await startFloorIdle(path.join(tmp, 'floor'), 'floor+flags', floorFlagsPort, ROUTER_EXEC_ARGV));
    }
    for (const t of targets) {
      const port = Number(new URL(t.url).port);
      await closeAll(await openIdle(port, 100), t); // warm: code paths compiled, pools filled
      const idle = treeRss(t.pid);
      const row: MemoryRow = {
        target: t.name,
        connections,
        idleKb: sum(idle),
        openKb: [],
        afterKb: [],
        busiest: { pid: 0, idleKb: 0, openKb: [], afterKb: [] },
      };
      for (let r = 1; r <= rounds; r++) {
        const sockets = await openIdle(port, connections);
        await sleep(500);
        const open = treeRss(t.pid);
        row.openKb.push(sum(open));
        if (r === 1) {
          const grew = [...open].sort((a, b) => b[1] - (idle.get(b[0]) ?? 0) - (a[1] - (idle.get(a[0]) ?? 0)))[0] as [number, number];
          row.busiest.pid = grew[0];
          row.busiest.idleKb = idle.get(grew[0]) ?? 0;
        }
        row.busiest.openKb.push(open.get(row.busiest.pid) ?? 0);
        await closeAll(sockets, t);
        const after = treeRss(t.pid);
        row.afterKb.push(sum(after));
        row.busiest.afterKb.push(after.get(row.busiest.pid) ?? 0);
        log(
          `memory round ${r} ${t.name}: ${row.openKb.at(-1)} KB with ${connections} idle connections, ${row.afterKb.at(-1)} KB after (pid ${row.busiest.pid}: ${row.busiest.openKb.at(-1)} KB, ${row.busiest.afterKb.at(-1)} KB after)`,
        );
      }
      rows.push(row);
    }
    const kb = (n: number) => `${(n / 1024).toFixed(1)} MB`;
    const span = (xs: number[]) => `${kb(Math.min(...xs))}-${kb(Math.max(...xs))}`;
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    process.stdout.write('target          idle  open (median)  per connection  after close: first -> last round (lowest-highest)\n');
    for (const r of rows) {
      const per = ((median(r.openKb) - r.idleKb) * 1024) / r.connections;
      process.stdout.write(
        `${r.target.padEnd(12)} ${kb(r.idleKb).padStart(9)}  ${kb(median(r.openKb)).padStart(13)}  ${`${(per / 1024).toFixed(2)} KB`.padStart(14)}  ${kb(r.afterKb[0] as number)} -> ${kb(r.afterKb.at(-1) as number)} (${span(r.afterKb)})\n`,
      );
    }
    for (const r of rows) {
      const b = r.busiest;
      const per = ((median(b.openKb) - b.idleKb) * 1024) / r.connections;
      process.stdout.write(
        `${`${r.target} pid ${b.pid}`.padEnd(12)} ${kb(b.idleKb).padStart(9)}  ${kb(median(b.openKb)).padStart(13)}  ${`${(per / 1024).toFixed(2)} KB`.padStart(14)}  ${kb(b.afterKb[0] as number)} -> ${kb(b.afterKb.at(-1) as number)} (${span(b.afterKb)})  (its one process that grew most; cutover: the router)\n`,
      );
    }
    process.stdout.write(
      `RSS of each proxy's process tree (cutover: the daemon, with its API and controller; nginx: master and one worker), ${connections} keep-alive connections that each carried one GET, ${rounds} rounds\n`,
    );
    for (const t of targets) await t.close();
    await upstream.close();
    return 0;
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}
