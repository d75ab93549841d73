// Signalling a replica's process group and telling whether anything in it still runs.
// Every replica leads its own group (spawned detached), so a signal to -pgid also reaches whatever
// the replica started itself (`npm start` -> node, shells, workers).
import { readdirSync, readFileSync } from 'node:fs';

/** Send `signal` to every process of the group; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/**
 * Whether a process of the group still runs. Zombies do not count: where PID 1 does not reap
 * (some containers), killed orphans stay zombies in their group forever, yet run nothing and hold
 * no port. Linux reads /proc; elsewhere a signal 0 answers, zombies included.
 */
export function groupAlive(pgid: number): boolean {
  if (process.platform !== 'linux') return signalGroup(pgid, 0);
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return signalGroup(pgid, 0);
  }
  for (const entry of entries) {
    const c = entry.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const stat = procStat(Number(entry));
    if (stat && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X') return true;
  }
  return false;
}

export interface ProcStat {
  state: string;
  ppid: number;
  pgrp: number;
  /** When it started, in clock ticks after boot: with the pid, names one process for good. */
  startTime: string;
}

/** Fields of /proc/<pid>/stat; null when the process is gone (or this is not Linux). */
export function procStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name in parentheses may hold spaces and parentheses; the fields follow the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', ppid: Number(fields[1]), pgrp: Number(fields[2]), startTime: fields[19] ?? '' };
}

/**
 * The kernel's start time of `pid`, or null when it is gone or a zombie. Off Linux (no /proc): the
 * empty string while it answers signal 0, so the pid alone decides there.
 */
export function processStartTime(pid: number): string | null {
  if (process.platform !== 'linux') {
    try {
      process.kill(pid, 0);
      return '';
    } catch {
      return null;
    }
  }
  const stat = procStat(pid);
  if (stat === null || stat.state === 'Z' || stat.state === 'X') return null;
  return stat.startTime;
}
