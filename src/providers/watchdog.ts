// The watchdog: a small process, one per daemon, that kills every replica group once the daemon is
// gone, however it died. Node cannot ask the kernel for a parent-death signal (prctl PDEATHSIG), but
// the kernel closes a dead process's end of every pipe: the daemon holds the write end of this
// process's stdin, so EOF on stdin means the daemon has exited, SIGKILL included.
//
// Run as `node src/providers/watchdog.ts`, in its own process group (so a signal to the daemon's group
// cannot take it down before it acts). Lines on stdin, from watchdog-client.ts:
//   watch <pgid> <graceMs>     a replica group was started
//   unwatch <pgid>             it was stopped by the daemon itself
// On EOF: SIGTERM to every watched group, SIGKILL to whatever is left after its grace, then exit.
import { groupAlive, signalGroup } from './groups.ts';

const POLL_MS = 25;
/** Never outlive the daemon by more than the longest grace plus this. */
const EXIT_SLACK_MS = 2000;

export type WatchdogCommand = { op: 'watch'; pgid: number; grace: number } | { op: 'unwatch'; pgid: number };

export function parseCommand(line: string): WatchdogCommand | null {
  const [op, a, b] = line.trim().split(' ');
  const pgid = Number(a);
  if (!Number.isSafeInteger(pgid) || pgid <= 1) return null;
  if (op === 'unwatch') return { op, pgid };
  const grace = Number(b);
  if (op === 'watch' && Number.isFinite(grace) && grace >= 0) return { op, pgid, grace };
  return null;
}

export function formatCommand(cmd: WatchdogCommand): string {
  return cmd.op === 'watch' ? `watch ${cmd.pgid} ${Math.round(cmd.grace)}\n` : `unwatch ${cmd.pgid}\n`;
}

function run(): void {
  const groups = new Map<number, number>();
  let pending = '';
  let reaping = false;
  process.stderr.on('error', () => {});

  const reap = (): void => {
    if (reaping) return;
    reaping = true;
    const started = Date.now();
    const deadlines = new Map<number, number>();
    let longest = 0;
    for (const [pgid, grace] of groups) {
      if (signalGroup(pgid, 'SIGTERM')) deadlines.set(pgid, started + grace);
      longest = Math.max(longest, grace);
    }
    if (deadlines.size > 0) {
      process.stderr.write(`cutover watchdog: the daemon is gone; stopping ${deadlines.size} replica group(s)\n`);
    }
    const tick = (): void => {
      const now = Date.now();
      for (const [pgid, deadline] of deadlines) {
        if (!groupAlive(pgid)) deadlines.delete(pgid);
        else if (now >= deadline) {
          signalGroup(pgid, 'SIGKILL');
          deadlines.delete(pgid);
        }
      }
      if (deadlines.size === 0 || now - started > longest + EXIT_SLACK_MS) process.exit(0);
      setTimeout(tick, POLL_MS);
    };
    tick();
  };

  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const cmd = parseCommand(line);
      if (cmd?.op === 'watch') groups.set(cmd.pgid, cmd.grace);
      else if (cmd?.op === 'unwatch') groups.delete(cmd.pgid);
    }
  });
  process.stdin.on('end', reap);
  process.stdin.on('close', reap);
  process.stdin.on('error', reap);
  // Signals meant for a terminal or a session do not concern the watchdog: only EOF ends it.
  for (const signal of ['SIGINT', 'SIGHUP', 'SIGPIPE'] as const) process.on(signal, () => {});
}

if (import.meta.main) run();
