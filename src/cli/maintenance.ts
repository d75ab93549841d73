// `cutover maintenance <service> on|off [--message TEXT]`: every user request gets the maintenance
// page (503 with Retry-After; the page and Retry-After are the config's `maintenance`), or no more.
import { api } from './client.ts';
import { badUsage, defineCommand } from './command.ts';
import type { HoldAnswer } from './resume.ts';

const USAGE = 'maintenance <service> on|off [--message TEXT] [--reason TEXT] [--json]';

export const { run, help } = defineCommand({
  usage: USAGE,
  summary:
    "on: every user request of <service> gets the maintenance page (503 with Retry-After; the service's `maintenance`\n" +
    'config sets the page), requests already running finish; off: requests reach the live slot again.',
  api: true,
  flags: {
    message: { type: 'string', value: 'TEXT', help: 'the text the page shows in place of {{message}} (on only)' },
    reason: { type: 'string', value: 'TEXT', help: 'why, for the history and the audit log' },
    json: { type: 'boolean', help: 'print the result as JSON' },
  },
  async run(values, positionals, ctx) {
    const [service, state] = positionals;
    if (!service || (state !== 'on' && state !== 'off') || positionals.length > 2) throw badUsage(USAGE);
    if (state === 'off' && values.message !== undefined) throw badUsage(`--message is for the page of maintenance on; ${USAGE}`);
    const r = await api<HoldAnswer>('POST', `/services/${encodeURIComponent(service)}/maintenance`, {
      enabled: state === 'on',
      ...(values.message !== undefined ? { message: values.message } : {}),
      ...(values.reason ? { reason: values.reason } : {}),
    });
    if (values.json) ctx.stdout.write(`${JSON.stringify(r)}\n`);
    else
      ctx.stdout.write(
        `${r.service}: maintenance ${r.maintenance ? 'on: users get the maintenance page' : 'off'} (generation ${r.generation})${r.paused ? '; still paused: `cutover resume <service>`' : ''}\n`,
      );
    return 0;
  },
});
