// A real 3-member etcd cluster for the etcd store's tests: Debian's etcd-server (/usr/bin/etcd) on
// free loopback ports, data in a temporary directory, members stopped and started one by one.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ROOT, waitFor } from './helpers.ts';

export const ETCD_BIN = '/usr/bin/etcd';
/** Short raft timers so a lost leader is noticed in well under a second (defaults: 100 ms / 1 s). */
const HEARTBEAT_MS = 50;
const ELECTION_MS = 500;
const HEALTHY_WITHIN_MS = 30_000;
const EXIT_WITHIN_MS = 10_000;

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  /** The running process, or null while the member is stopped. */
  process: ChildProcess | null;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** Client URLs of every member, running or not: what a store is configured with. */
  endpoints: string[];
  /** Stops a member (SIGTERM; SIGKILL for a crash) and waits until its process has exited. */
  stop(index: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a stopped member again on its data directory; `healthy()` waits until it serves. */
  start(index: number): Promise<void>;
  /** A member's own view: its id and the leader it knows ('0': none); null when it does not answer. */
  status(index: number): Promise<{ id: string; leader: string } | null>;
  /** Waits until the running members agree on a leader, and gives its index. */
  leader(): Promise<number>;
  /** Waits until every running member reports a leader. */
  healthy(): Promise<void>;
  /** Stops every member and removes the data. Idempotent. */
  close(): Promise<void>;
}

/** Installs etcd-server when it is missing and we may (root); throws with what to do otherwise. */
export function ensureEtcd(): void {
  if (existsSync(ETCD_BIN)) return;
  const r = spawnSync('bash', [join(ROOT, 'scripts/install-system-deps.sh'), 'etcd-server'], { stdio: 'inherit' });
  if (r.status !== 0 || !existsSync(ETCD_BIN)) {
    throw new Error(`${ETCD_BIN} is missing; install Debian's etcd-server (apt-get install -y etcd-server)`);
  }
}

// Members still running when the test process exits (a failed test, a crash) must not outlive it.
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

export async function startEtcdCluster(size = 3): Promise<EtcdCluster> {
  ensureEtcd();
  const dir = mkdtempSync(join(tmpdir(), 'cutover-etcd-'));
  const members: EtcdMember[] = [];
  for (let i = 0; i < size; i++) {
    members.push({
      name: `m${i}`,
      clientUrl: `http://127.0.0.1:${await freePort()}`,
      peerUrl: `http://127.0.0.1:${await freePort()}`,
      dataDir: join(dir, `m${i}`),
      process: null,
    });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const token = `cutover-test-${process.pid}-${Date.now()}`;

  const launch = (m: EtcdMember): void => {
    const log = openSync(join(dir, `${m.name}.log`), 'a');
    // On a restart the data directory holds the membership, and etcd ignores the --initial-* flags.
    const child = spawn(
      ETCD_BIN,
      [
        '--name',
        m.name,
        '--data-dir',
        m.dataDir,
        '--listen-client-urls',
        m.clientUrl,
        '--advertise-client-urls',
        m.clientUrl,
        '--listen-peer-urls',
        m.peerUrl,
        '--initial-advertise-peer-urls',
        m.peerUrl,
        '--initial-cluster',
        initialCluster,
        '--initial-cluster-state',
        'new',
        '--initial-cluster-token',
        token,
        '--heartbeat-interval',
        String(HEARTBEAT_MS),
        '--election-timeout',
        String(ELECTION_MS),
        '--logger',
        'zap',
        '--log-outputs',
        'stderr',
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log); // the child has its own copy
    running.add(child);
    child.on('exit', () => running.delete(child));
    m.process = child;
  };

  const serving = (m: EtcdMember): Promise<boolean> =>
    fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1000) })
      .then(async (res) => ((await res.json()) as { health?: string }).health === 'true')
      .catch(() => false);

  const stop = async (index: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const m = members[index];
    const p = m?.process;
    if (m === undefined || p === null || p === undefined) return;
    m.process = null;
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill(signal);
    const timer = setTimeout(() => p.kill('SIGKILL'), EXIT_WITHIN_MS);
    await exited;
    clearTimeout(timer);
  };

  // The JSON gateway on the client port, so the helper needs no etcd client of its own.
  const status = async (index: number): Promise<{ id: string; leader: string } | null> => {
    const m = members[index];
    if (m === undefined || m.process === null) return null;
    try {
      const res = await fetch(`${m.clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { header?: { member_id?: string }; leader?: string };
      return { id: body.header?.member_id ?? '0', leader: body.leader ?? '0' };
    } catch {
      return null;
    }
  };

  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.clientUrl),
    stop,
    async start(index) {
      const m = members[index];
      if (m === undefined) throw new Error(`no member ${index}`);
      if (m.process === null) launch(m);
    },
    status,
    async leader() {
      return waitFor(
        'the etcd members to agree on a leader',
        async () => {
          const all = await Promise.all(members.map((_, i) => status(i)));
          const up = all.filter((s) => s !== null);
          const leader = up[0]?.leader;
          if (leader === undefined || leader === '0' || up.some((s) => s.leader !== leader)) return undefined;
          const index = all.findIndex((s) => s?.id === leader);
          return index === -1 ? undefined : index;
        },
        HEALTHY_WITHIN_MS,
      );
    },
    async healthy() {
      for (const m of members) {
        if (m.process === null) continue;
        await waitFor(`etcd member ${m.name} to have a leader (log: ${join(dir, `${m.name}.log`)})`, () => serving(m), HEALTHY_WITHIN_MS);
      }
    },
    async close() {
      await Promise.all(members.map((_, i) => stop(i, 'SIGKILL')));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const m of members) launch(m);
    await cluster.healthy();
  } catch (err) {
    // The logs go with the directory: keep their ends in the error.
    const tails = members.map((m) => `${m.name}: ${tail(join(dir, `${m.name}.log`))}`).join('\n');
    await cluster.close();
    throw new Error(`the etcd cluster did not start: ${String(err)}\n${tails}`, { cause: err });
  }
  return cluster;
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-5).join('\n');
  } catch {
    return '(no log)';
  }
}
