// `cutover logs <service> [--slot blue|green] [-n N] [--follow]`: the last lines the service's replicas
// wrote, through the API (so it works wherever `cutover status` does). --follow asks again every
// FOLLOW_INTERVAL and prints the lines after the last one it printed, until Ctrl-C.
import { api } from './client.ts';
import { badUsage, defineCommand } from './command.ts';
import { EXIT } from './exit.ts';

/** How often --follow asks for new lines. */
const FOLLOW_INTERVAL = 1000;
/** How far back --follow looks each time; more new lines than this between two asks are cut. */
const FOLLOW_LINES = 1000;
const USAGE = 'logs <service> [--slot blue|green] [-n N] [--follow]';

/** The lines of `now` after the last one already printed (all of them when it scrolled out of sight). */
export function newLines(now: string[], last: string | undefined): string[] {
  if (last === undefined) return now;
  const at = now.lastIndexOf(last);
  return at < 0 ? now : now.slice(at + 1);
}

export const { run, help } = defineCommand({
  usage: USAGE,
  summary:
    "The last lines the replicas of <service> wrote (stdout, stderr and cutover's own notes), both slots merged in time\n" +
    'order unless --slot is given.',
  api: true,
  flags: {
    slot: { type: 'string', value: 'SLOT', help: 'only this slot: blue or green' },
    lines: { type: 'string', short: 'n', value: 'N', default: '100', help: 'how many lines' },
    follow: { type: 'boolean', short: 'f', help: 'keep printing new lines as they are written, until Ctrl-C' },
  },
  async run(values, positionals, ctx) {
    const [service] = positionals;
    const lines = Number(values.lines);
    const slot = values.slot;
    if (
      !service ||
      positionals.length > 1 ||
      (slot !== undefined && slot !== 'blue' && slot !== 'green') ||
      !Number.isInteger(lines) ||
      lines < 1
    )
      throw badUsage(USAGE);
    const path = (n: number): string =>
      `/services/${encodeURIComponent(service)}/logs?lines=${n}${slot !== undefined ? `&slot=${slot}` : ''}`;
    const first = await api<{ lines: string[] }>('GET', path(lines));
    if (first.lines.length > 0) ctx.stdout.write(`${first.lines.join('\n')}\n`);
    else if (!values.follow) ctx.stdout.write(`${service}: no log lines yet\n`);
    if (!values.follow) return EXIT.done;

    let last = first.lines.at(-1);
    let stopped = false;
    const stop = (): void => {
      stopped = true;
    };
    process.once('SIGINT', stop);
    try {
      while (!stopped) {
        await new Promise((resolve) => setTimeout(resolve, FOLLOW_INTERVAL));
        if (stopped) break;
        const now = await api<{ lines: string[] }>('GET', path(FOLLOW_LINES));
        const fresh = newLines(now.lines, last);
        if (fresh.length > 0) {
          ctx.stdout.write(`${fresh.join('\n')}\n`);
          last = fresh.at(-1);
        }
      }
    } finally {
      process.off('SIGINT', stop);
    }
    return EXIT.done;
  },
});
