// `npx node bench/instructions.ts [--requests N --warmup N --connections N --only cutover,floor,nginx]`: instructions per request of one
// proxy process, counted by valgrind's callgrind, which a loaded machine cannot disturb the way it
// disturbs req/s and CPU time. The proxy runs under callgrind in front of the bench's nginx upstream;
// a client in this process sends `--warmup` requests (JIT and pools warm), the counters are zeroed
// (callgrind_control -z), `--requests` more are sent over `--connections` keep-alive connections, and
// the counters are dumped (callgrind_control -d): the dump's total over the measured requests.
// Targets: cutover (bench/profile-router.ts: one Router, no daemon, with the router processes' V8 flags),
// the floor (a net pipe) and nginx.
// `--frames N` also prints each target's N costliest functions by self instructions per request
// (bench/callgrind-frames.ts; JIT code named through node's --perf-basic-prof map).
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { nameJit, selfCosts, topFrames } from './callgrind-frames.ts';
import { repoRoot } from './cutover.ts';
import { ROUTER_EXEC_ARGV } from '../src/router/workers.ts';
import { startUpstream } from './nginx.ts';
import { freePorts, startProcess, stopAll, waitForPort } from './proc.ts';

const run = promisify(execFile);
const log = (line: string) => process.stderr.write(`instructions: ${line}\n`);

/** Sends `total` GETs over `conns` keep-alive connections, one at a time on each; resolves when all are answered. */
function load(port: number, conns: number, total: number): Promise<void> {
  // Every answer of the nginx upstream ends with its 3-byte body: count the head ends followed by it.
  const END = Buffer.from('\r\n\r\nok\n');
  const REQ = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: instructions\r\nAccept: */*\r\n\r\n');
  let sent = 0;
  let answered = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${answered} of ${total} answered within 600 s`)), 600_000);
    for (let c = 0; c < Math.min(conns, total); c++) {
      const s = net.connect(port, '127.0.0.1');
      s.setNoDelay(true);
      let tail: Buffer = Buffer.alloc(0);
      s.on('error', (err) => reject(err));
      s.on('connect', () => {
        sent++;
        s.write(REQ);
      });
      s.on('data', (chunk: Buffer) => {
        const buf = tail.length === 0 ? chunk : Buffer.concat([tail, chunk]);
        for (let i = buf.indexOf(END); i >= 0; i = buf.indexOf(END, i + END.length)) {
          answered++;
          if (sent < total) {
            sent++;
            s.write(REQ);
          } else s.end();
        }
        tail = buf.subarray(Math.max(0, buf.length - END.length + 1));
        if (answered === total) {
          clearTimeout(timer);
          resolve();
        }
      });
    }
  });
}

/** Total instructions (Ir) of a callgrind dump. */
function totalIr(file: string): number {
  const text = readFileSync(file, 'utf8');
  const m = /^(?:summary|totals):\s+(\d+)/m.exec(text);
  if (m === null) throw new Error(`no totals in ${file}`);
  return Number(m[1]);
}

async function measure(
  name: string,
  dir: string,
  command: string[],
  port: number,
  opts: { warmup: number; requests: number; connections: number; frames: number; env?: NodeJS.ProcessEnv },
): Promise<number> {
  const out = path.join(dir, `${name}.callgrind`);
  const child = startProcess(name, 'valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, ...command], {
    logFile: path.join(dir, `${name}.log`),
    env: { ...process.env, ...opts.env },
  });
  await waitForPort(child, port, 300_000);
  await load(port, opts.connections, opts.warmup);
  await run('callgrind_control', ['-z', String(child.pid)]);
  await load(port, opts.connections, opts.requests);
  await run('callgrind_control', ['-d', String(child.pid)]);
  // The dump is written as <out>.<n> beside the final one.
  const dumps = readdirSync(dir).filter((f) => f.startsWith(`${name}.callgrind.`));
  const dump = path.join(dir, dumps.sort().at(-1) as string);
  const ir = totalIr(dump);
  await child.stop('SIGTERM', 20_000);
  if (opts.frames > 0) {
    // JIT code is named from the perf map node writes with --perf-basic-prof (the Node targets).
    const lines = topFrames(nameJit(selfCosts(dump), child.pid), opts.requests, opts.frames);
    process.stdout.write(`${name}: top ${opts.frames} functions by self instructions per request\n${lines.join('\n')}\n`);
  }
  return ir / opts.requests;
}

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '5000' },
    warmup: { type: 'string', default: '3000' },
    connections: { type: 'string', default: '20' },
    only: { type: 'string', default: 'cutover,floor,nginx' },
    keep: { type: 'boolean', default: false },
    frames: { type: 'string', default: '0' },
  },
});
const opts = {
  requests: Number(values.requests),
  warmup: Number(values.warmup),
  connections: Number(values.connections),
  frames: Number(values.frames),
};
const only = new Set(values.only.split(','));
const dir = mkdtempSync(path.join(os.tmpdir(), 'cutover-instr-'));
const [blue, green, port] = (await freePorts(3)) as [number, number, number];
try {
  const up = await startUpstream(path.join(dir, 'upstream'), blue, green);
  // With --frames, node writes a perf map so the JIT code in the dump can be named.
  const node = values.frames !== '0' ? [process.execPath, '--perf-basic-prof'] : [process.execPath];
  const rows: [string, number][] = [];
  if (only.has('cutover')) {
    const env = { PROF_LISTEN: String(port), PROF_UPSTREAM: String(up.blue), PROF_SECONDS: '100000', PROF_CONNECT_TIMEOUT: '60000' };
    rows.push([
      'cutover (one Router)',
      await measure('cutover', dir, [...node, ...ROUTER_EXEC_ARGV, path.join(repoRoot, 'bench/profile-router.ts')], port, { ...opts, env }),
    ]);
  }
  if (only.has('floor')) {
    const cmd = [...node, path.join(repoRoot, 'bench/apps/floor-pipe.ts'), String(port), String(up.blue)];
    rows.push(['floor (Node net pipe)', await measure('floor', dir, cmd, port, opts)]);
  }
  if (only.has('nginx')) {
    const ndir = path.join(dir, 'nginx');
    mkdirSync(path.join(ndir, 'tmp'), { recursive: true });
    const conf = `master_process off;\ndaemon off;\nworker_processes 1;\n${process.getuid?.() === 0 ? 'user root;\n' : ''}pid ${ndir}/nginx.pid;
error_log ${ndir}/error.log warn;\nevents { worker_connections 1024; }\nhttp { access_log off; proxy_temp_path ${ndir}/tmp;
  client_body_temp_path ${ndir}/tmp/b; fastcgi_temp_path ${ndir}/tmp/f; uwsgi_temp_path ${ndir}/tmp/u; scgi_temp_path ${ndir}/tmp/s;
  upstream app { server 127.0.0.1:${up.blue}; keepalive 64; }
  server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; } } }\n`;
    writeFileSync(path.join(ndir, 'nginx.conf'), conf);
    rows.push(['nginx, 1 worker', await measure('nginx', dir, ['nginx', '-p', ndir, '-c', path.join(ndir, 'nginx.conf')], port, opts)]);
  }
  const floor = rows.find(([n]) => n.startsWith('floor'))?.[1];
  const nginx = rows.find(([n]) => n.startsWith('nginx'))?.[1];
  process.stdout.write(
    `instructions per request (callgrind, ${opts.requests} requests over ${opts.connections} connections after ${opts.warmup})\n`,
  );
  for (const [n, ir] of rows) {
    const x = (b: number | undefined) => (b === undefined ? '-' : (ir / b).toFixed(2));
    process.stdout.write(`${n.padEnd(24)} ${Math.round(ir).toLocaleString('en').padStart(10)}  ×floor ${x(floor)}  ×nginx ${x(nginx)}\n`);
  }
  log(`dumps in ${dir} (callgrind_annotate FILE for the frames)`);
} finally {
  await stopAll();
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
}
