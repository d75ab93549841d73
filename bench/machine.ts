// What the numbers were measured on: cores, CPU model, and the versions of every program involved.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { repoRoot } from './cutover.ts';

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  // nginx prints its version on stderr, wrk prints it and exits 1.
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  return text.split('\n')[0] ?? (r.error ? `unavailable: ${r.error.message}` : '');
}

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  kernel: string;
  node: string;
  nginx: string;
  haproxy: string;
  wrk: string;
  commit: string;
}

export function machineInfo(): MachineInfo {
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    nginx: firstLine('nginx', ['-v']),
    haproxy: firstLine('haproxy', ['-v']),
    wrk: firstLine('wrk', ['-v']),
    commit: firstLine('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']),
  };
}
