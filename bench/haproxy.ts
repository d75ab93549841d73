// HAProxy as a reverse proxy to compare with. Both slots are servers of one backend, the idle one in
// maintenance; a switch goes through the runtime API: raise the new server, then lower the old one.
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startProcess, waitForPort } from './proc.ts';
import type { Slot, Target, Upstream } from './target.ts';

/**
 * The configuration both benches run HAProxy with. `exposeFd`: the stats socket hands the listeners
 * over, which a master-worker reload (-W, SIGUSR2) needs to lose no connection (bench/restart.ts).
 */
export function haproxyConfig(dir: string, threads: number, port: number, upstream: Upstream, exposeFd = false): string {
  return `global
  nbthread ${threads}
  # Far above wrk's 50 connections, and low enough that HAProxy needs no higher FD limit than the shell's.
  maxconn 4096
  stats socket ${dir}/admin.sock mode 600 level admin${exposeFd ? ' expose-fd listeners' : ''}

defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
  http-reuse always

frontend fe
  bind 127.0.0.1:${port}
  default_backend be

backend be
  server blue 127.0.0.1:${upstream.blue}
  server green 127.0.0.1:${upstream.green} disabled
`;
}

/** Sends one runtime API command; HAProxy answers nothing but a blank line when it succeeded. */
function command(socket: string, cmd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const sock = net.connect({ path: socket });
    sock.setTimeout(5000, () => sock.destroy(new Error(`no answer to "${cmd}" within 5 s`)));
    sock.on('data', (d) => (answer += d.toString()));
    sock.once('error', reject);
    sock.once('close', () => {
      if (answer.trim() === '') resolve();
      else reject(new Error(`haproxy refused "${cmd}": ${answer.trim()}`));
    });
    sock.end(`${cmd}\n`);
  });
}

export async function startHaproxy(dir: string, threads: number, port: number, upstream: Upstream): Promise<Target> {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'haproxy.cfg');
  writeFileSync(file, haproxyConfig(dir, threads, port, upstream));
  const name = threads === 1 ? 'haproxy' : `haproxy-t${threads}`;
  const child = startProcess(name, 'haproxy', ['-f', file, '-db'], { logFile: path.join(dir, 'stdout.log') });
  await waitForPort(child, port);
  const socket = path.join(dir, 'admin.sock');
  let live: Slot = 'blue';
  return {
    name,
    kind: 'haproxy',
    workers: threads,
    url: `http://127.0.0.1:${port}/`,
    pid: child.pid,
    // The runtime API is as cheap as cutover's swap, so it gets the same pace (nginx's reload does not).
    switchEveryMs: 100,
    async switchTo(slot: Slot) {
      if (slot === live) return;
      await command(socket, `set server be/${slot} state ready`);
      await command(socket, `set server be/${live} state maint`);
      live = slot;
    },
    close: () => child.stop(),
  };
}
