// `npm run bench -- --fleet [--routers 3,5,10] [--switches N]`: how long a switch takes to reach a
// fleet. A real 3-member etcd cluster (test/etcd-cluster.ts), one controller (`cutover up`, not a
// router itself) and N `cutover router` processes on loopback; each switch is timed from the API
// request until its answer, which comes once every live router has published that it serves the new
// generation. Median and p99 per N; writes bench/results/<time>-fleet.json. Not a timed test.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { startEtcdCluster } from '../test/etcd-cluster.ts';
import { freePorts, sleep } from './proc.ts';

const log = (line: string) => process.stderr.write(`bench fleet: ${line}\n`);
const root = path.resolve(import.meta.dirname, '..');
const CLI = path.join(root, 'src/cli/main.ts');
const TOKEN = `bench-${randomUUID()}`;
const START_TIMEOUT_MS = 40_000;

interface Result {
  routers: number;
  switches: number;
  failed: number;
  medianMs: number;
  p99Ms: number;
  maxMs: number;
}

function upstream(slot: string): Promise<{ server: http.Server; address: string }> {
  const server = http.createServer((req, res) => res.end(req.url === '/healthz' ? 'ok' : slot));
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, address: `127.0.0.1:${(server.address() as net.AddressInfo).port}` })),
  );
}

function launch(args: string[], ready: RegExp): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, CUTOVER_TOKEN: TOKEN, CUTOVER_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start: ${out}`)), START_TIMEOUT_MS);
    child.stdout!.on('data', () => {
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited ${code}: ${out}`));
    });
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      routers: { type: 'string', default: '3,5,10' },
      switches: { type: 'string', default: '100' },
      keep: { type: 'boolean', default: false },
    },
  });
  const counts = values.routers
    .split(',')
    .map(Number)
    .sort((a, b) => a - b);
  const switches = Number(values.switches);
  if (counts.some((n) => !Number.isInteger(n) || n < 1 || n > 64) || !Number.isInteger(switches) || switches < 1) {
    throw new Error('--routers takes counts from 1 to 64 (like 3,5,10), --switches a whole number above 0');
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cutover-bench-fleet-'));
  const cluster = await startEtcdCluster();
  const blue = await upstream('blue');
  const green = await upstream('green');
  const children: ChildProcess[] = [];
  const results: Result[] = [];
  try {
    const store = `etcd://${cluster.endpoints.map((e) => e.replace('http://', '')).join(',')}/cutover-bench/${randomUUID()}`;
    const config = (listen: number, extra: Record<string, unknown> = {}) => ({
      store,
      stateDir: path.join(tmp, `state-${listen}`),
      ...extra,
      services: {
        web: {
          listen: `127.0.0.1:${listen}`,
          provider: { kind: 'static', blue: [blue.address], green: [green.address] },
          health: { path: '/healthz', interval: '200ms' },
        },
      },
    });
    const [apiPort, ctlPort] = (await freePorts(2)) as [number, number];
    const ctlFile = path.join(tmp, 'controller.yaml');
    writeFileSync(
      ctlFile,
      stringify(config(ctlPort, { api: { listen: `127.0.0.1:${apiPort}` }, fleet: { router: false, ackTimeout: '5s' } })),
    );
    children.push(await launch(['up', '-c', ctlFile], /cutover is up/));
    const api = async (method: string, p: string, body?: unknown): Promise<{ status: number; json: any }> => {
      const res = await fetch(`http://127.0.0.1:${apiPort}${p}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, json: await res.json() };
    };
    // Leader and first route table.
    for (let i = 0; (await api('GET', '/api/v1/services/web').catch(() => ({ status: 0 }))).status !== 200; i++) {
      if (i > 200) throw new Error('the controller did not become the leader');
      await sleep(100);
    }
    let running = 0;
    let slot: 'blue' | 'green' = 'green';
    for (const n of counts) {
      const add = n - running;
      const ports = await freePorts(add);
      const started = await Promise.all(
        ports.map((port, i) => {
          const file = path.join(tmp, `router-${running + i}.yaml`);
          writeFileSync(file, stringify(config(port)));
          return launch(['router', '-c', file, '--id', `r${running + i}`], /cutover router .* is up/);
        }),
      );
      children.push(...started);
      running = n;
      for (let i = 0; (await api('GET', '/api/v1/services/web')).json.fleet?.routers?.length !== n; i++) {
        if (i > 200) throw new Error(`the controller did not see ${n} routers`);
        await sleep(50);
      }
      // A few unmeasured switches, so every router has checked both slots' targets.
      for (let i = 0; i < 4; i++) {
        await api('POST', '/api/v1/services/web/switch', { slot });
        slot = slot === 'green' ? 'blue' : 'green';
      }
      const took: number[] = [];
      let failed = 0;
      for (let i = 0; i < switches; i++) {
        const t0 = performance.now();
        const r = await api('POST', '/api/v1/services/web/switch', { slot });
        const ms = performance.now() - t0;
        if (r.status === 200) took.push(ms);
        else {
          failed++;
          if (failed === 1) log(`switch failed: ${JSON.stringify(r.json)}`);
        }
        slot = slot === 'green' ? 'blue' : 'green';
        await sleep(20);
      }
      took.sort((a, b) => a - b);
      const result: Result = {
        routers: n,
        switches,
        failed,
        medianMs: percentile(took, 50),
        p99Ms: percentile(took, 99),
        maxMs: took.at(-1) ?? NaN,
      };
      results.push(result);
      log(
        `${n} routers: median ${result.medianMs.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms, max ${result.maxMs.toFixed(1)} ms, ${failed} failed of ${switches}`,
      );
    }
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await sleep(500);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    blue.server.close();
    green.server.close();
    await cluster.close();
    if (values.keep) log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
  const lines = [
    '',
    'time from a switch request until every router serves it (loopback, 3-member etcd)',
    'routers   median ms   p99 ms   max ms   failed',
  ];
  for (const r of results) {
    lines.push(
      `${String(r.routers).padStart(7)}   ${r.medianMs.toFixed(1).padStart(9)}   ${r.p99Ms.toFixed(1).padStart(6)}   ${r.maxMs.toFixed(1).padStart(6)}   ${r.failed}`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  const dir = path.join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(
    dir,
    `${new Date()
      .toISOString()
      .replace(/\.\d+Z$/, 'Z')
      .replaceAll(':', '-')}-fleet.json`,
  );
  writeFileSync(
    file,
    `${JSON.stringify({ kind: 'fleet', machine: { cpus: os.availableParallelism(), node: process.version }, results }, null, 2)}\n`,
  );
  log(`wrote ${file}`);
  return results.some((r) => r.failed > 0) ? 1 : 0;
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
