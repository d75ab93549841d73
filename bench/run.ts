// `npm run bench`: wrk against one upstream directly, through cutover, nginx and HAProxy, interleaved
// over rounds, then one switch-under-load round per proxy; prints one table, writes bench/results/*.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { machineCpuSeconds, selfCpuSeconds, treeCpuSeconds } from './cpu.ts';
import { cutoverMissing, repoRoot, startCutover } from './cutover.ts';
import { startFloor } from './floor.ts';
import { startHaproxy } from './haproxy.ts';
import { machineInfo } from './machine.ts';
import { startNginxProxy, startUpstream } from './nginx.ts';
import { parseOptions, usage, type Options } from './options.ts';
import { freePorts, sleep, stopAll } from './proc.ts';
import { switchUntil } from './switching.ts';
import { formatTable, summarise, type Mode, type Row, type Run } from './table.ts';
import type { Target, Upstream } from './target.ts';
import { runWrk } from './wrk.ts';

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Installs nginx, HAProxy and wrk when absent and we can; returns the ones still missing. */
function ensureTools(): string[] {
  const tools = ['nginx', 'haproxy', 'wrk'];
  const missing = tools.filter((t) => !has(t));
  if (missing.length > 0) {
    log(`installing ${missing.join(', ')}`);
    spawnSync('bash', [path.join(repoRoot, 'scripts/install-system-deps.sh'), ...missing], { stdio: 'inherit' });
  }
  return tools.filter((t) => !has(t));
}

interface Skipped {
  target: string;
  reason: string;
  error: boolean;
}

async function startTargets(o: Options, tmp: string, upstream: Upstream, skipped: Skipped[]): Promise<Target[]> {
  const targets: Target[] = [];
  for (const kind of o.only) {
    for (const w of o.workers) {
      const name = `${kind}-${w}`;
      const dir = path.join(tmp, name);
      if (kind === 'cutover' && cutoverMissing()) {
        skipped.push({ target: name, reason: cutoverMissing() as string, error: false });
        continue;
      }
      try {
        const [port, apiPort] = (await freePorts(2)) as [number, number];
        if (kind === 'cutover') {
          targets.push(await startCutover(dir, w, port, apiPort, upstream));
          if (o.baseline !== null) {
            const [p2, a2] = (await freePorts(2)) as [number, number];
            targets.push(await startCutover(`${dir}@base`, w, p2, a2, upstream, undefined, path.resolve(o.baseline)));
          }
        } else if (kind === 'nginx') targets.push(await startNginxProxy(dir, w, port, upstream));
        else targets.push(await startHaproxy(dir, w, port, upstream));
      } catch (err) {
        log(`${name} did not start: ${(err as Error).message}`);
        skipped.push({ target: name, reason: (err as Error).message, error: true });
      }
    }
  }
  return targets;
}

async function measure(o: Options, t: Target, upstream: Upstream, mode: Mode, round: number): Promise<Run> {
  const seconds = mode === 'switching' ? o.switchSeconds : o.seconds;
  const cpu0 = treeCpuSeconds(t.pid);
  const up0 = treeCpuSeconds(upstream.pid);
  const self0 = selfCpuSeconds();
  const m0 = machineCpuSeconds();
  const load = runWrk({ url: t.url, seconds, connections: o.connections, threads: o.threads });
  // Switching starts once wrk has its connections open and ends just before wrk does.
  const switching = mode === 'switching' ? sleep(200).then(() => switchUntil(t, Date.now() + seconds * 1000 - 500)) : undefined;
  const [wrk, sw] = await Promise.all([load, switching]);
  const m1 = machineCpuSeconds();
  const self1 = selfCpuSeconds();
  const proxy1 = treeCpuSeconds(t.pid);
  const proxyCpu = proxy1.total - cpu0.total;
  const upstreamCpu = treeCpuSeconds(upstream.pid).total - up0.total;
  // wrk is a reaped child of this process, so its CPU shows up in ours; the rest of the machine's busy
  // time belongs to someone else (other tests on a shared box) and makes this run's numbers noisier.
  const wrkCpu = self1.reaped - self0.reaped;
  const ours = (t.pid === upstream.pid ? 0 : proxyCpu) + upstreamCpu + wrkCpu + (self1.own - self0.own);
  const capacity = Math.max(1e-9, m1.total - m0.total);
  const perReq = (s: number) => (s * 1e6) / Math.max(1, wrk.requests);
  const run: Run = {
    target: t.name,
    kind: t.kind,
    workers: t.workers,
    mode,
    round,
    wrk: { ...wrk, output: undefined } as Run['wrk'],
    cpuUsPerReq: perReq(proxyCpu),
    cpuSystemPct: (100 * (proxy1.system - cpu0.system)) / Math.max(1e-9, proxyCpu),
    upstreamCpuUsPerReq: perReq(upstreamCpu),
    wrkCpuUsPerReq: perReq(wrkCpu),
    machineBusyPct: (100 * (m1.busy - m0.busy)) / capacity,
    otherBusyPct: Math.max(0, (100 * (m1.busy - m0.busy - ours)) / capacity),
    ...(sw && { switching: sw }),
  };
  const extra = sw ? `, ${sw.switches} switches${sw.switchErrors ? ` (${sw.switchErrors} failed: ${sw.firstError})` : ''}` : '';
  log(
    `${mode} round ${round} ${t.name}: ${Math.round(wrk.rps)} req/s, p99 ${wrk.p99Ms.toFixed(2)} ms, ` +
      `failed ${wrk.failed}, ${run.cpuUsPerReq.toFixed(1)} µs CPU/req (${run.cpuSystemPct.toFixed(0)}% kernel), machine ${run.machineBusyPct.toFixed(0)}% busy (others ${run.otherBusyPct.toFixed(0)}%)${extra}`,
  );
  return run;
}

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' | ').slice(0, 500);

/** Which kinds of failure a row had, and per switch when it was switching. */
function failureNote(row: Row, runs: Run[]): string {
  const mine = runs.filter((r) => r.target === row.target && r.mode === row.mode);
  const sum = (f: (r: Run) => number) => mine.reduce((s, r) => s + f(r), 0);
  const kinds = {
    connect: sum((r) => r.wrk.socketErrors.connect),
    read: sum((r) => r.wrk.socketErrors.read),
    write: sum((r) => r.wrk.socketErrors.write),
    timeout: sum((r) => r.wrk.socketErrors.timeout),
    'non-2xx/3xx': sum((r) => r.wrk.non2xx3xx),
  };
  const parts = Object.entries(kinds)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`);
  const perSwitch = row.switches ? `, ${(row.failed / row.switches).toFixed(1)} per switch` : '';
  return `${row.target}${row.mode === 'switching' ? ' switching' : ''}: ${row.failed} (${parts.join(', ')})${perSwitch}`;
}

/**
 * Measures again (a bounded number of times) while processes outside the bench took more than
 * `maxNoise`% of the machine, since on a shared box they, not the proxy, set the numbers; keeps the quietest.
 */
async function measureQuietly(o: Options, t: Target, upstream: Upstream, mode: Mode, round: number): Promise<Run> {
  let best = await measure(o, t, upstream, mode, round);
  for (let i = 0; i < o.retries && best.otherBusyPct > o.maxNoise; i++) {
    log(`${t.name}: ${best.otherBusyPct.toFixed(0)}% of the machine was busy elsewhere; measuring again`);
    await sleep(2000);
    const again = await measure(o, t, upstream, mode, round);
    if (again.otherBusyPct < best.otherBusyPct) best = again;
  }
  return best;
}

async function main(): Promise<number> {
  // The fleet round is its own measurement (etcd, routers, a controller): see bench/fleet.ts.
  // The edge over TLS beside nginx with the same certificate (bench/tls.ts).
  if (process.argv.includes('--tls')) return (await import('./tls.ts')).main(process.argv.slice(2).filter((a) => a !== '--tls'));
  // The traffic adapters' round: switches through HAProxy, nginx and Caddy beside the router (bench/adapters.ts).
  if (process.argv.includes('--adapters'))
    return (await import('./adapters.ts')).main(process.argv.slice(2).filter((a) => a !== '--adapters'));
  // Resident memory with many idle keep-alive connections, beside nginx's (bench/memory.ts).
  if (process.argv.includes('--memory')) return (await import('./memory.ts')).main(process.argv.slice(2).filter((a) => a !== '--memory'));
  if (process.argv.includes('--fleet')) return (await import('./fleet.ts')).main(process.argv.slice(2).filter((a) => a !== '--fleet'));
  let o: Options;
  try {
    const parsed = parseOptions(process.argv.slice(2));
    if (parsed === 'help') {
      process.stdout.write(usage);
      return 0;
    }
    o = parsed;
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${usage}`);
    return 2;
  }
  // The release rounds need neither wrk nor nginx: the daemon, its process service and node clients.
  if (o.mttr || o.falseAlarms) return (await import('./mttr.ts')).main(o);
  const missing = ensureTools();
  if (missing.includes('nginx') || missing.includes('wrk')) {
    log(`${missing.join(', ')} missing and could not be installed; install them (apt-get install -y ${missing.join(' ')}) and run again`);
    return 2;
  }
  if (missing.includes('haproxy')) o.only = o.only.filter((k) => k !== 'haproxy');

  const startedAt = new Date().toISOString();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cutover-bench-'));
  const skipped: Skipped[] = missing.map((m) => ({ target: m, reason: 'not installed', error: true }));
  const targets: Target[] = [];
  const onSignal = () => {
    void stopAll().finally(() => {
      if (!o.keepTmp) rmSync(tmp, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const [blue, green] = (await freePorts(2)) as [number, number];
    const upstream = await startUpstream(path.join(tmp, 'upstream'), blue, green);
    const direct: Target = {
      name: 'direct',
      kind: 'direct',
      workers: 1,
      url: `http://127.0.0.1:${blue}/`,
      pid: upstream.pid,
      close: async () => {},
    };
    const floorDir = path.join(tmp, 'floor');
    mkdirSync(floorDir, { recursive: true });
    const [floorPort] = (await freePorts(1)) as [number];
    targets.push(direct, await startFloor(floorDir, floorPort, upstream), ...(await startTargets(o, tmp, upstream, skipped)));
    log(
      `targets: ${targets.map((t) => t.name).join(', ')}${skipped.length ? `; skipped: ${skipped.map((s) => s.target).join(', ')}` : ''}`,
    );

    if (o.warmupSeconds > 0) {
      for (const t of targets) await runWrk({ url: t.url, seconds: o.warmupSeconds, connections: o.connections, threads: o.threads });
    }
    const runs: Run[] = [];
    for (let r = 1; r <= o.rounds; r++) {
      // Each round starts one target later, so no target always runs first (or right after a hot one).
      const order = targets.map((_, i) => targets[(i + r - 1) % targets.length] as Target);
      for (const t of order) runs.push(await measureQuietly(o, t, upstream, 'steady', r));
    }
    if (o.switchSeconds > 0) {
      for (const t of targets.filter((t) => t.switchTo)) runs.push(await measureQuietly(o, t, upstream, 'switching', 1));
    }

    const rows = summarise(runs);
    const notes = targets.flatMap((t) => (t.notes?.() ?? []).map((n) => `${t.name}: ${n}`));
    process.stdout.write(`${formatTable(rows)}\n\n`);
    process.stdout.write(
      `medians of ${o.rounds} round(s) of ${o.seconds} s${o.switchSeconds > 0 ? ` (switching: one round of ${o.switchSeconds} s)` : ''}, wrk -t${o.threads} -c${o.connections}; ` +
        `×nginx compares with nginx at the same worker count and mode, ×floor with Node piping bytes (no HTTP), ×direct with the upstream alone; failed is summed over rounds; switches: how many, and the median time one took; ` +
        `CPU µs/req is the proxy's process tree (direct: the upstream nginx), "in kernel" the share of it in system time.\n`,
    );
    for (const n of notes) process.stdout.write(`note: ${n}\n`);
    const noisiest = Math.max(...runs.map((r) => r.otherBusyPct));
    if (noisiest > o.maxNoise) {
      process.stdout.write(
        `noise: processes outside the bench still used ${noisiest.toFixed(0)}% of the machine during a kept run (after ${o.retries} retries); ratios are steadier on a quiet machine, CPU µs/req less affected\n`,
      );
    }
    for (const r of rows.filter((r) => r.failed > 0)) process.stdout.write(`failures: ${failureNote(r, runs)}\n`);
    for (const s of skipped) process.stdout.write(`skipped ${s.target}: ${oneLine(s.reason)}\n`);

    const resultsDir = path.join(repoRoot, 'bench/results');
    mkdirSync(resultsDir, { recursive: true });
    const file = path.join(resultsDir, `${startedAt.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}.json`);
    writeFileSync(file, `${JSON.stringify({ startedAt, options: o, machine: machineInfo(), rows, runs, notes, skipped }, null, 2)}\n`);
    process.stdout.write(`results: ${path.relative(process.cwd(), file)}\n`);
    return skipped.some((s) => s.error) ? 1 : 0;
  } finally {
    for (const t of targets.reverse()) await t.close();
    await stopAll();
    if (o.keepTmp) log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

process.exitCode = await main();
