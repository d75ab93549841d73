// `cutover restart`: the controller restarts in place from the code and config on disk, as SIGHUP
// does (same pid); the routers and replicas serve throughout. The command waits for the new
// controller's API. A config on disk that does not validate changes nothing: exit 2 with the reason.
import { CutoverError } from '../errors.ts';
import { ApiError, api, request } from './client.ts';
import { badUsage, defineCommand } from './command.ts';
import { EXIT } from './exit.ts';

const USAGE = 'restart [--json]';
/** The old API closes within moments of answering; a restart that takes longer than this is reported. */
const GONE_WITHIN_MS = 15_000;
const BACK_WITHIN_MS = 90_000;
const POLL_MS = 50;

/** Whether the API answers at all (any status). */
async function answers(): Promise<boolean> {
  try {
    await (await request('GET', '/whoami', undefined, AbortSignal.timeout(2000))).arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

/** Polls `want` until it holds or `ms` pass; true when it held. */
async function until(want: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await want()) return true;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return false;
}

export const { run, help } = defineCommand({
  usage: USAGE,
  summary:
    'Restart the controller in place from the code and config on disk (as SIGHUP or `systemctl reload` do; same pid), and\n' +
    'wait until its API answers again. The routers and replicas serve throughout: no request fails. A config on disk\n' +
    'that does not validate changes nothing: exit 2 with the reason.',
  api: true,
  flags: { json: { type: 'boolean', help: 'print the result as JSON' } },
  async run(values, positionals, ctx) {
    if (positionals.length > 0) throw badUsage(USAGE);
    const started = performance.now();
    let r: { pid: number };
    try {
      r = await api<{ restarting: true; pid: number }>('POST', '/restart');
    } catch (err) {
      // The config on disk is bad: the same exit as `cutover validate` gives it.
      if (err instanceof ApiError && err.code === 'CUTOVER_E_CONFIG_INVALID') {
        throw new CutoverError('CUTOVER_E_CONFIG_INVALID', err.message, 400, { cause: err });
      }
      throw err;
    }
    // The old controller closes its API as it hands over; then the new one opens it.
    const gone = await until(async () => !(await answers()), GONE_WITHIN_MS);
    const back = await until(answers, BACK_WITHIN_MS);
    const ms = Math.round(performance.now() - started);
    if (!back) {
      ctx.stderr.write(`cutover: the controller (pid ${r.pid}) did not answer again within ${BACK_WITHIN_MS / 1000} s; see its log\n`);
      return EXIT.releaseEnded;
    }
    if (values.json) ctx.stdout.write(`${JSON.stringify({ restarted: true, pid: r.pid, ms, handedOver: gone })}\n`);
    else ctx.stdout.write(`cutover restarted in place (pid ${r.pid}, ${ms} ms); the routers and replicas served throughout\n`);
    return EXIT.done;
  },
});
