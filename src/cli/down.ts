// `cutover down`: a deliberate stop, as SIGTERM: the routers drain for each service's `drain`, the
// replicas stop, the listeners close and the controller exits. The command waits until it has.
import { isLoopbackHost } from '../net/address.ts';
import { api, request, target } from './client.ts';
import { badUsage, defineCommand } from './command.ts';
import { EXIT } from './exit.ts';

const USAGE = 'down [--json]';
/** Drains (default 30 s each, in parallel) and replica stops take this long at most before it is reported. */
const STOPPED_WITHIN_MS = 10 * 60_000;
const POLL_MS = 100;

export const { run, help } = defineCommand({
  usage: USAGE,
  summary:
    'Stop cutover on purpose, as SIGTERM does: the routers drain (each service for its `drain`), then the replicas stop,\n' +
    'the listeners close and `cutover up` exits; waits until it has. Nothing is left running.',
  api: true,
  flags: { json: { type: 'boolean', help: 'print the result as JSON' } },
  async run(values, positionals, ctx) {
    if (positionals.length > 0) throw badUsage(USAGE);
    const started = performance.now();
    const r = await api<{ stopping: true; pid: number }>('POST', '/shutdown');
    // The API closes first; the controller exits once the routers drained and the replicas stopped.
    const deadline = Date.now() + STOPPED_WITHIN_MS;
    let stopped = false;
    while (!stopped && Date.now() < deadline) {
      stopped = !(await request('GET', '/whoami', undefined, AbortSignal.timeout(2000)).then(
        (res) => res.arrayBuffer().then(() => true),
        () => false,
      ));
      if (!stopped) await new Promise((res) => setTimeout(res, POLL_MS));
    }
    const local = isLoopbackHost(new URL(target().base).hostname);
    while (stopped && local && Date.now() < deadline && alive(r.pid)) await new Promise((res) => setTimeout(res, POLL_MS));
    const ms = Math.round(performance.now() - started);
    if (!stopped || (local && alive(r.pid))) {
      ctx.stderr.write(`cutover: pid ${r.pid} still runs after ${Math.round(ms / 1000)} s; see its log\n`);
      return EXIT.releaseEnded;
    }
    if (values.json) ctx.stdout.write(`${JSON.stringify({ stopped: true, pid: r.pid, ms })}\n`);
    else ctx.stdout.write(`cutover stopped (pid ${r.pid}, ${ms} ms): routers drained, replicas stopped, listeners closed\n`);
    return EXIT.done;
  },
});

/** The controller's pid, when it runs on this machine (a remote API: unknown, taken as gone once the API is). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
