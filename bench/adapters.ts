// `npm run bench -- --adapters [--switches N] [--connections N] [--every MS] [--duration S] [--keep]`:
// what a switch costs through each traffic adapter, side by side with the embedded router. Real
// Debian HAProxy, nginx and Caddy on loopback in front of an nginx upstream (blue and green ports,
// each answering its slot in `x-slot`); a steady keep-alive load of N connections runs while cutover's
// adapter switches back and forth. Per adapter: failed requests per switch (median and max), how long
// apply() took, and the time until a new connection is answered by the new slot. Then wrk req/s
// through HAProxy driven by cutover (still, and while switching every second) beside the embedded
// router. DNS (PowerDNS, BIND) and the Kubernetes Service adapter (against an API stand-in) get rows of
// their own (bench/adapters-dns-k8s.ts). Writes bench/results/<time>-adapters.json. Not a timed test.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../src/log.ts';
import { LocalRouterHost } from '../src/router/host.ts';
import type { RouteSpec } from '../src/router/table.ts';
import { CaddyAdapter } from '../src/traffic/caddy.ts';
import { HaproxyAdapter } from '../src/traffic/haproxy.ts';
import { NginxAdapter } from '../src/traffic/nginx.ts';
import type { TrafficAdapter, TrafficState } from '../src/traffic/types.ts';
import { keepAliveLoad, startCaddy, startHaproxy, startNginx, type Balancer } from '../test/balancers.ts';
import { testRouterOptions } from '../test/helpers.ts';
import { freePorts, sleep, startProcess, stopAll, waitForPort } from './proc.ts';
import { runWrk, type WrkResult } from './wrk.ts';
import { DNS_K8S_KINDS, type DnsK8sRow, dnsK8sTable, measureDnsK8s } from './adapters-dns-k8s.ts';

const log = (line: string) => process.stderr.write(`bench adapters: ${line}\n`);
const quiet = createLogger({ level: 'error' });
const root = path.resolve(import.meta.dirname, '..');

interface Row {
  adapter: string;
  lossless: boolean;
  switches: number;
  requests: number;
  failed: number;
  failedPerSwitch: { median: number; max: number };
  applyMs: { median: number; max: number };
  servesNewSlotMs: { median: number; max: number };
  firstErrors: string[];
}

type Driver = { name: string; port: number; adapter: TrafficAdapter; stop(): Promise<void> };

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor((s.length - 1) / 2)] as number);
};
const max = (xs: number[]): number => (xs.length === 0 ? 0 : Math.max(...xs));

/** One nginx answering on two ports, `x-slot: blue` on one and `x-slot: green` on the other. */
async function startSlots(dir: string): Promise<{ blue: string; green: string; stop(): Promise<void> }> {
  mkdirSync(dir, { recursive: true });
  const [blue, green] = (await freePorts(2)) as [number, number];
  const server = (port: number, slot: string) =>
    `  server { listen 127.0.0.1:${port}; keepalive_requests 100000; location / { add_header x-slot ${slot}; return 200 "${slot}\\n"; } }\n`;
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    `daemon off;\nworker_processes 1;\npid ${dir}/nginx.pid;\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n${server(blue, 'blue')}${server(green, 'green')}}\n`,
  );
  const child = startProcess('slots nginx', 'nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], {
    logFile: path.join(dir, 'stdout.log'),
  });
  await waitForPort(child, green);
  return { blue: `127.0.0.1:${blue}`, green: `127.0.0.1:${green}`, stop: () => child.stop() };
}

/** The embedded router behind the same interface, so it is measured the same way. */
function routerAdapter(host: LocalRouterHost): TrafficAdapter {
  return {
    kind: 'router',
    capabilities: { lossless: true, weighted: true, eventual: false },
    apply: (s) => host.apply({ service: 'web', ...s } as RouteSpec),
    observe: async () => ({ weights: null, targets: { blue: [], green: [] }, detail: 'embedded router' }),
    close: async () => {},
  };
}

async function startDriver(kind: string, dir: string, slots: { blue: string; green: string }): Promise<Driver> {
  mkdirSync(dir, { recursive: true });
  const wrap = (b: Balancer, adapter: TrafficAdapter): Driver => ({
    name: kind,
    port: b.port,
    adapter,
    stop: async () => {
      await adapter.close();
      await b.stop();
    },
  });
  switch (kind) {
    case 'router': {
      const [port] = (await freePorts(1)) as [number];
      const host = new LocalRouterHost(testRouterOptions(port, { maxIdlePerTarget: 256 }));
      await host.listen();
      host.setHealth(slots.blue, true);
      host.setHealth(slots.green, true);
      return { name: kind, port, adapter: routerAdapter(host), stop: () => host.close(0) };
    }
    case 'haproxy': {
      const h = await startHaproxy(dir);
      return wrap(h, new HaproxyAdapter({ kind: 'haproxy', socket: h.socket, backend: h.backend }, { log: quiet }));
    }
    case 'nginx':
    case 'nginx-no-keepalive': {
      // The mitigation nginx allows: no keep-alive to clients (keepalive_timeout 0), so no idle connection is closed under a client.
      const n = await startNginx(dir, kind === 'nginx' ? {} : { keepaliveTimeout: '0' });
      return wrap(
        n,
        new NginxAdapter(
          { kind: 'nginx', upstreamFile: n.upstreamFile, upstream: 'web', reload: n.reload, check: n.check },
          { log: quiet },
        ),
      );
    }
    case 'caddy': {
      const c = await startCaddy(dir);
      return wrap(c, new CaddyAdapter({ kind: 'caddy', admin: c.admin, route: c.route }, { log: quiet }));
    }
    default:
      throw new Error(`unknown adapter ${kind}`);
  }
}

const stateFor = (generation: number, live: 'blue' | 'green', slots: { blue: string; green: string }): TrafficState => ({
  generation,
  live,
  weights: { blue: live === 'blue' ? 100 : 0, green: live === 'green' ? 100 : 0 },
  slots: { blue: { version: '1', targets: [slots.blue] }, green: { version: '2', targets: [slots.green] } },
});

/** A request on a new connection; the slot that answered. */
function probe(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve((res.headers['x-slot'] as string | undefined) ?? null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

async function measure(
  d: Driver,
  slots: { blue: string; green: string },
  o: { switches: number; connections: number; every: number },
): Promise<Row> {
  let generation = 1;
  await d.adapter.apply(stateFor(generation, 'blue', slots));
  for (let i = 0; i < 200 && (await probe(d.port)) !== 'blue'; i++) await sleep(10);
  // nginx's old workers may still accept for a moment after a reload: let the first one settle.
  await sleep(500);
  const load = keepAliveLoad(d.port, o.connections, 600);
  await sleep(1000);
  const failedPer: number[] = [];
  const applyMs: number[] = [];
  const serveMs: number[] = [];
  for (let i = 0; i < o.switches; i++) {
    const live = i % 2 === 0 ? 'green' : 'blue';
    const before = load.now().failed;
    const t0 = performance.now();
    await d.adapter.apply(stateFor(++generation, live, slots));
    applyMs.push(performance.now() - t0);
    for (let j = 0; j < 500; j++) {
      if ((await probe(d.port)) === live) break;
      await sleep(2);
    }
    serveMs.push(performance.now() - t0);
    const rest = o.every - (performance.now() - t0);
    if (rest > 0) await sleep(rest);
    failedPer.push(load.now().failed - before);
  }
  const total = await load.stop();
  return {
    adapter: d.name,
    lossless: d.adapter.capabilities.lossless,
    switches: o.switches,
    requests: total.ok + total.failed,
    failed: total.failed,
    failedPerSwitch: { median: median(failedPer), max: max(failedPer) },
    applyMs: { median: median(applyMs), max: max(applyMs) },
    servesNewSlotMs: { median: median(serveMs), max: max(serveMs) },
    firstErrors: total.errors.slice(0, 3),
  };
}

/** wrk through a driver with blue live; with `switchEvery`, the adapter switches at that pace meanwhile. */
async function throughput(
  d: Driver,
  slots: { blue: string; green: string },
  seconds: number,
  switchEvery?: number,
): Promise<WrkResult & { switches: number }> {
  let generation = 100;
  await d.adapter.apply(stateFor(generation, 'blue', slots));
  let switches = 0;
  let done = false;
  const switching = (async () => {
    if (!switchEvery) return;
    let live: 'blue' | 'green' = 'blue';
    while (!done) {
      await sleep(switchEvery);
      if (done) break;
      live = live === 'blue' ? 'green' : 'blue';
      await d.adapter.apply(stateFor(++generation, live, slots));
      switches++;
    }
  })();
  const wrk = await runWrk({ url: `http://127.0.0.1:${d.port}/`, seconds, connections: 50, threads: 1 });
  done = true;
  await switching;
  return { ...wrk, switches };
}

function table(rows: Row[]): string {
  const head = [
    'adapter',
    'lossless',
    'switches',
    'requests',
    'failed',
    'failed/switch med',
    'max',
    'apply ms med',
    'serves new slot ms med',
    'max',
  ];
  const body = rows.map((r) => [
    r.adapter,
    String(r.lossless),
    String(r.switches),
    String(r.requests),
    String(r.failed),
    String(r.failedPerSwitch.median),
    String(r.failedPerSwitch.max),
    r.applyMs.median.toFixed(1),
    r.servesNewSlotMs.median.toFixed(1),
    r.servesNewSlotMs.max.toFixed(1),
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  return [head, ...body].map((cols) => cols.map((c, i) => c.padEnd(width[i] as number)).join('  ')).join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      switches: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      every: { type: 'string', default: '500' },
      duration: { type: 'string', default: '10' },
      only: { type: 'string', default: `router,haproxy,nginx,nginx-no-keepalive,caddy,${DNS_K8S_KINDS.join(',')}` },
      keep: { type: 'boolean', default: false },
    },
  });
  const o = {
    switches: Number(values.switches),
    connections: Number(values.connections),
    every: Number(values.every),
    seconds: Number(values.duration),
  };
  for (const [k, v] of Object.entries(o)) if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a whole number above 0`);
  const kinds = (values.only as string).split(',').map((s) => s.trim());
  const startedAt = new Date().toISOString();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cutover-bench-adapters-'));
  const onSignal = () => void stopAll().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const rows: Row[] = [];
  const dnsK8s: DnsK8sRow[] = [];
  const rps: Record<string, unknown> = {};
  const slots = await startSlots(path.join(tmp, 'slots'));
  try {
    for (const kind of kinds) {
      if ((DNS_K8S_KINDS as readonly string[]).includes(kind)) continue; // no proxy in front: measured below
      log(`${kind}: ${o.switches} switches under ${o.connections} keep-alive connections`);
      const d = await startDriver(kind, path.join(tmp, kind), slots);
      try {
        rows.push(await measure(d, slots, o));
        if (kind === 'router' || kind === 'haproxy') {
          log(`${kind}: wrk ${o.seconds} s still, then ${o.seconds} s switching every second`);
          const still = await throughput(d, slots, o.seconds);
          const moving = await throughput(d, slots, o.seconds, 1000);
          rps[kind] = {
            still: { rps: still.rps, p99Ms: still.p99Ms, failed: still.failed },
            switching: { rps: moving.rps, p99Ms: moving.p99Ms, failed: moving.failed, switches: moving.switches },
          };
        }
      } finally {
        await d.stop();
      }
    }
    dnsK8s.push(...(await measureDnsK8s(kinds, o.switches, log)));
  } finally {
    await slots.stop();
    await stopAll();
    if (!values.keep) rmSync(tmp, { recursive: true, force: true });
    else log(`kept ${tmp}`);
  }
  if (rows.length > 0) {
    process.stdout.write(
      `\nswitches under ${o.connections} keep-alive connections, one every ${o.every} ms (${os.availableParallelism()} cores, node ${process.version})\n`,
    );
    process.stdout.write(`${table(rows)}\n\n`);
  }
  if (dnsK8s.length > 0) process.stdout.write(`DNS and Kubernetes switches (no requests cross them here)\n${dnsK8sTable(dnsK8s)}\n\n`);
  for (const [k, v] of Object.entries(rps) as [
    string,
    { still: { rps: number; failed: number }; switching: { rps: number; failed: number; switches: number } },
  ][]) {
    process.stdout.write(
      `wrk -c50 through ${k}: ${v.still.rps.toFixed(0)} req/s (${v.still.failed} failed); switching every second: ${v.switching.rps.toFixed(0)} req/s, ${v.switching.failed} failed over ${v.switching.switches} switches\n`,
    );
  }
  const dir = path.join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${startedAt.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}-adapters.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ kind: 'adapters', startedAt, options: o, machine: { cpus: os.availableParallelism(), node: process.version }, rows, rps, dnsK8s }, null, 2)}\n`,
  );
  process.stdout.write(`results: ${path.relative(process.cwd(), file)}\n`);
  return 0;
}
