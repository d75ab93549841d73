// Child processes the bench starts, tracked so every one of them (and only those) is stopped at the end,
// plus the small waits the bench needs: free loopback ports, a port that accepts, a bounded sleep.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

export interface Child {
  name: string;
  pid: number;
  logFile: string;
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  exited: Promise<number | string>;
  isRunning(): boolean;
  /** Sends `signal`, then SIGKILL after `graceMs`, and waits for the exit. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

const started = new Set<Child>();

export function startProcess(
  name: string,
  command: string,
  args: string[],
  opts: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv },
): Child {
  const fd = openSync(opts.logFile, 'a');
  let cp: ChildProcess;
  try {
    cp = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  let running = cp.pid !== undefined;
  const exited = new Promise<number | string>((resolve) => {
    cp.once('exit', (code, signal) => {
      running = false;
      resolve(code ?? signal ?? 'unknown');
    });
    cp.once('error', (err) => {
      running = false;
      resolve(err.message);
    });
  });
  const child: Child = {
    name,
    pid: cp.pid ?? -1,
    logFile: opts.logFile,
    exited,
    isRunning: () => running,
    async stop(signal = 'SIGTERM', graceMs = 5000) {
      if (running) {
        cp.kill(signal);
        const timer = setTimeout(() => running && cp.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      started.delete(child);
    },
  };
  started.add(child);
  return child;
}

/** Stops every process this bench started, newest first. */
export async function stopAll(): Promise<void> {
  for (const c of [...started].reverse()) await c.stop();
}

export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** `count` distinct free ports on 127.0.0.1 (all held open at once so none repeats). */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const s = net.createServer();
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', resolve);
      });
      servers.push(s);
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** Waits until 127.0.0.1:port accepts connections; throws with the log's tail when it does not in time. */
export async function waitForPort(child: Child, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!child.isRunning()) break;
    if (await connects(port)) return;
    await sleep(50);
  }
  const why = child.isRunning() ? `did not accept on port ${port} within ${timeoutMs} ms` : 'exited';
  throw new Error(`${child.name} ${why}; its log:\n${tail(child.logFile)}`);
}
