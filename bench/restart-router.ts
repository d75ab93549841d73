// The router-kill round of `npm run bench:restart`: one router process of a service SIGKILLed under
// load, the supervisor starting it again. Which failed requests were on the killed router's own
// connections is read from the kernel (/proc, Linux): the server side of each client connection is a
// socket in one router process's fd table, so a probe client's local port names the router it talks to.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { sleep } from './proc.ts';

/** Client port -> pid of the router process holding the server side of that connection to `listenPort`. */
export function connectionOwners(listenPort: number, pids: number[]): Map<number, number> {
  const byInode = new Map<string, number>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) byInode.set(m[1]!, pid);
      } catch {
        // closed meanwhile
      }
    }
  }
  const owners = new Map<number, number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = Number.parseInt(f[1]!.split(':')[1]!, 16);
      const remote = Number.parseInt(f[2]!.split(':')[1]!, 16);
      const pid = byInode.get(f[9]!);
      if (local === listenPort && pid !== undefined) owners.set(remote, pid);
    }
  }
  return owners;
}

export interface RouterProcess {
  worker: number;
  pid: number | null;
  generation: number;
}

/**
 * Where the failed probe requests were: on the killed router's connections, on the others', on
 * connections opened after the kill; and how many of all client connections (wrk's and the probe's)
 * the killed router held when it was killed.
 */
export interface FailureSplit {
  killed: number;
  other: number;
  fresh: number;
  connsOnKilled: number;
  conns: number;
}

export function splitFailures(failedPorts: number[], owners: Map<number, number>, killed: number): FailureSplit {
  const connsOnKilled = [...owners.values()].filter((pid) => pid === killed).length;
  const split: FailureSplit = { killed: 0, other: 0, fresh: 0, connsOnKilled, conns: owners.size };
  for (const port of failedPorts) {
    const owner = owners.get(port);
    if (owner === undefined) split.fresh++;
    else if (owner === killed) split.killed++;
    else split.other++;
  }
  return split;
}

/**
 * SIGKILLs worker 0 of the service's routers and waits until the supervisor's new process for it
 * serves the generation the old one served. Returns the connection owners seen just before the kill.
 */
export async function killRouter(
  listenPort: number,
  routers: () => Promise<RouterProcess[]>,
  timeoutMs: number,
): Promise<{ killed: number; owners: Map<number, number> }> {
  const before = await routers();
  const victim = before.find((p) => p.worker === 0);
  if (victim?.pid === null || victim === undefined) throw new Error(`no router process to kill: ${JSON.stringify(before)}`);
  const owners = connectionOwners(
    listenPort,
    before.flatMap((p) => (p.pid === null ? [] : [p.pid])),
  );
  process.kill(victim.pid, 'SIGKILL');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const now = (await routers().catch(() => [])).find((p) => p.worker === 0);
    if (now !== undefined && now.pid !== null && now.pid !== victim.pid && now.generation >= victim.generation) {
      return { killed: victim.pid, owners };
    }
    await sleep(5);
  }
  throw new Error(`the router process ${victim.pid} was not replaced within ${timeoutMs} ms`);
}
