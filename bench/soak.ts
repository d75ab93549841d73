// `npm run soak`: cutover under steady load for a long time (default 1 h; --duration 10m), with a
// switch between blue and green every 10 s, while the daemon's process tree is sampled (RSS, open
// file descriptors). Fails (exit 1) when memory or descriptors do not stay flat, a request fails or
// a switch is refused. Not part of `npm test`: it is as long as you ask it to be.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatDuration, parseDuration } from '../src/config/duration.ts';
import { startCutover } from './cutover.ts';
import { startUpstream } from './nginx.ts';
import { freePorts, sleep, stopAll } from './proc.ts';
import { judge, mib, type Sample } from './soak-judge.ts';
import type { Slot } from './target.ts';
import { runWrk } from './wrk.ts';

const USAGE = `usage: npm run soak -- [--duration 1h] [--switch-every 10s] [--sample-every 5s] [--connections 20] [--warmup D]
  --duration      how long the load runs (default 1h)
  --switch-every  time between switches of the live slot (default 10s)
  --sample-every  time between samples of RSS and file descriptors (default 5s)
  --connections   wrk's keep-alive connections (default 20)
  --warmup        samples before this are not judged (default: 10% of the duration, at most 5m)
needs nginx and wrk (scripts/install-system-deps.sh nginx wrk)`;

const log = (line: string) => process.stderr.write(`soak: ${line}\n`);

function options() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '1h' },
      'switch-every': { type: 'string', default: '10s' },
      'sample-every': { type: 'string', default: '5s' },
      connections: { type: 'string', default: '20' },
      warmup: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const duration = parseDuration(values.duration);
  return {
    duration,
    switchEvery: parseDuration(values['switch-every']),
    sampleEvery: parseDuration(values['sample-every']),
    connections: Number(values.connections),
    warmup: values.warmup === undefined ? Math.min(5 * 60_000, duration / 10) : parseDuration(values.warmup),
  };
}

/** The process and every descendant: a router worker or a supervisor counts too. */
function tree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(p)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  for (const queue = [root]; queue.length > 0; ) {
    const pid = queue.shift() as number;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

function sample(root: number, at: number): Sample {
  let rssBytes = 0;
  let fds = 0;
  for (const pid of tree(root)) {
    try {
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      rssBytes += Number(kb ?? 0) * 1024;
      fds += readdirSync(`/proc/${pid}/fd`).length;
    } catch {
      // exited between the listing and the read
    }
  }
  return { at, rssBytes, fds };
}

async function main(): Promise<number> {
  const o = options();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cutover-soak-'));
  const [blue, green, port, apiPort] = (await freePorts(4)) as [number, number, number, number];
  try {
    const upstream = await startUpstream(path.join(dir, 'upstream'), blue, green);
    const cutover = await startCutover(path.join(dir, 'cutover'), 1, port, apiPort, upstream);
    log(`${formatDuration(o.duration)} of load (${o.connections} connections), a switch every ${formatDuration(o.switchEvery)}`);
    const started = Date.now();
    const end = started + o.duration;
    const load = runWrk({ url: cutover.url, seconds: Math.round(o.duration / 1000), connections: o.connections, threads: 2 });
    let switches = 0;
    const refused: string[] = [];
    const switching = (async () => {
      let slot: Slot = 'blue';
      while (Date.now() + o.switchEvery < end) {
        await sleep(o.switchEvery);
        slot = slot === 'blue' ? 'green' : 'blue';
        try {
          await cutover.switchTo!(slot);
          switches++;
        } catch (err) {
          refused.push((err as Error).message);
        }
      }
    })();
    const samples: Sample[] = [];
    while (Date.now() < end) {
      samples.push(sample(cutover.pid, Date.now() - started));
      const last = samples.at(-1) as Sample;
      if (samples.length % Math.max(1, Math.round(60_000 / o.sampleEvery)) === 1) {
        log(`${formatDuration(last.at)}: RSS ${mib(last.rssBytes)}, ${last.fds} fds, ${switches} switches`);
      }
      await sleep(Math.min(o.sampleEvery, Math.max(0, end - Date.now())));
    }
    const [wrk] = await Promise.all([load, switching]);
    await cutover.close();
    await upstream.close();
    const v = judge(samples, o.warmup);
    process.stdout.write(
      `${[
        `soak: ${formatDuration(o.duration)}, ${wrk.requests} requests (${Math.round(wrk.rps)}/s), ${wrk.failed} failed, p99 ${wrk.p99Ms} ms`,
        `switches: ${switches} done, ${refused.length} refused${refused.length > 0 ? ` (first: ${refused[0]})` : ''}`,
        `RSS (process tree): ${mib(v.rssStart)} -> ${mib(v.rssEnd)} after the ${formatDuration(o.warmup)} warm-up; file descriptors: ${v.fdsStart} -> ${v.fdsEnd}`,
        `samples: ${samples.length}, every ${formatDuration(o.sampleEvery)}`,
        v.flat ? 'flat: yes' : `flat: no: ${v.reasons.join('; ')}`,
      ].join('\n')}\n`,
    );
    return v.flat && wrk.failed === 0 && refused.length === 0 ? 0 : 1;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`soak: ${(err as Error).stack ?? err}\n`);
    void stopAll().finally(() => process.exit(1));
  },
);
