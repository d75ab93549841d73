// `cutover demo`: a guided tour on this machine with nothing else installed. It starts its own daemon
// with the demo service (examples/demo) on free ports, keeps a steady load of user requests running,
// and deploys v1, then v2, rolls back to v1 from standby, then deploys a broken v3 that fails before
// any user sees it. It ends with how many user requests were served and how many failed.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse, stringify } from 'yaml';
import { helpText } from './command.ts';
import type { Command } from './main.ts';

export const help = helpText(
  'demo [--keep]',
  'A guided tour on this machine: a daemon of its own on free ports, a steady load of users, then v1, v2, a rollback\nand a broken v3 that fails before any user sees it. Exit 0 when no user request failed.',
  {
    keep: { type: 'boolean', help: 'leave the demo daemon running at the end (its pid and config are printed)' },
    help: { type: 'boolean', short: 'h', help: 'show this help' },
  },
);

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = join(ROOT, 'src/cli/main.ts');
const DEMO = join(ROOT, 'examples/demo/cutover.yaml');
const CLIENTS = 8;

interface Load {
  served: number;
  failed: number;
  byVersion: Map<string, number>;
  errors: string[];
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => ok(port));
    });
  });
}

/** Keep-alive clients asking for the page in a loop, counting answers by the version that gave them. */
function steadyLoad(port: number): Load {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const load: Load = { served: 0, failed: 0, byVersion: new Map(), errors: [], stop: async () => {} };
  let running = true;
  const one = (): Promise<void> =>
    new Promise((done) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => {
          const version = String(res.headers['x-version'] ?? '');
          if (res.statusCode === 200 && version) {
            load.served++;
            load.byVersion.set(version, (load.byVersion.get(version) ?? 0) + 1);
          } else if (res.statusCode !== 503 || load.served > 0) {
            // Before the first release the listener says 503 "no release yet": expected, not a failure.
            load.failed++;
            if (load.errors.length < 5) load.errors.push(`HTTP ${res.statusCode}`);
          }
          done();
        });
      });
      req.on('error', (err) => {
        load.failed++;
        if (load.errors.length < 5) load.errors.push(err.message);
        done();
      });
    });
  const loops = Array.from({ length: CLIENTS }, async () => {
    while (running) {
      await one();
      await new Promise((r) => setTimeout(r, 5));
    }
  });
  load.stop = async () => {
    running = false;
    await Promise.all(loops);
    agent.destroy();
  };
  return load;
}

export const run: Command = async (ctx) => {
  const { values } = parseArgs({ args: ctx.argv, options: { keep: { type: 'boolean' } } });
  const out = (line: string): void => void ctx.stdout.write(`${line}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'cutover-demo-'));
  const [apiPort, port] = [await freePort(), await freePort()];
  const config = parse(readFileSync(DEMO, 'utf8')) as {
    api: { listen: string };
    stateDir: string;
    services: { demo: Record<string, unknown> };
  };
  config.api.listen = `127.0.0.1:${apiPort}`;
  config.stateDir = join(dir, 'state');
  config.services.demo.listen = `127.0.0.1:${port}`;
  config.services.demo.standby = '10m';
  (config.services.demo.provider as Record<string, unknown>).cwd = join(ROOT, 'examples/demo');
  const file = join(dir, 'cutover.yaml');
  writeFileSync(file, stringify(config));
  const token = randomBytes(16).toString('base64url');
  const env = { ...process.env, CUTOVER_TOKEN: token, CUTOVER_API: `http://127.0.0.1:${apiPort}` };

  out(`cutover demo: starting a daemon with the demo service (app http://127.0.0.1:${port}/, API http://127.0.0.1:${apiPort}/)`);
  const daemon = spawn(process.execPath, [MAIN, 'up', '-c', file], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let daemonLog = '';
  daemon.stderr.on('data', (d: Buffer) => (daemonLog = (daemonLog + d.toString()).slice(-4000)));
  const cli = (args: string[]): Promise<{ code: number; text: string }> =>
    new Promise((done) => {
      const p = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      p.stdout.on('data', (d: Buffer) => (text += d.toString()));
      p.stderr.on('data', (d: Buffer) => (text += d.toString()));
      p.on('exit', (code) => done({ code: code ?? 1, text }));
    });

  let load: Load | null = null;
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (daemon.exitCode !== null) throw new Error(`the daemon exited: ${daemonLog}`);
      const ok = await fetch(`http://127.0.0.1:${apiPort}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`the daemon did not start within 20 s: ${daemonLog}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    load = steadyLoad(port);
    const l = load;
    const counters = (): string =>
      `users: ${l.served} served (${[...l.byVersion].map(([v, n]) => `${v}: ${n}`).join(', ') || 'none yet'}), ${l.failed} failed`;
    const step = async (title: string, args: string[], expect: number): Promise<void> => {
      out(`\n== ${title}\n$ cutover ${args.join(' ')}`);
      const r = await cli(args);
      ctx.stdout.write(r.text.replace(/^/gm, '  '));
      if (r.code !== expect) throw new Error(`\`cutover ${args.join(' ')}\` exited ${r.code}, expected ${expect}`);
      await new Promise((res) => setTimeout(res, 1000));
      out(`  ${counters()}`);
    };
    await step('the first release: v1 goes to blue and becomes live', ['deploy', 'demo', 'v1', '--wait'], 0);
    await step('v2 comes up on green, is proven, takes all traffic; v1 waits on standby', ['deploy', 'demo', 'v2', '--wait'], 0);
    await step('roll back from standby: one route-table swap, v1 is live again at once', ['rollback', 'demo'], 0);
    await step(
      'v3-broken crashes as it starts: the release fails before any user sees it, v1 stays live',
      ['deploy', 'demo', 'v3-broken', '--wait'],
      1,
    );
    await step('where things stand', ['status', 'demo'], 0);
    await load.stop();
    out(`\n${load.served} user requests served, ${load.failed} failed${load.errors.length ? ` (${load.errors.join('; ')})` : ''}.`);
    if (values.keep) out(`the daemon keeps running (pid ${daemon.pid}); its config: ${file}`);
    return load.failed === 0 ? 0 : 1;
  } catch (err) {
    await load?.stop();
    ctx.stderr.write(`cutover demo: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    if (!values.keep) {
      const exited = new Promise((r) => daemon.once('exit', r));
      daemon.kill('SIGTERM');
      const t = setTimeout(() => daemon.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    }
  }
};
