// `cutover resume <service>`: ends a pause; the held requests go on in the order they came.
import { api } from './client.ts';
import { badUsage, defineCommand } from './command.ts';

/** What the pause, resume and maintenance paths answer. */
export interface HoldAnswer {
  service: string;
  generation: number;
  paused: { timeout: number } | null;
  maintenance: { message: string | null } | null;
}

const USAGE = 'resume <service> [--reason TEXT] [--json]';

export const { run, help } = defineCommand({
  usage: USAGE,
  summary: 'End a pause of <service>: the requests it held go on in the order they came, new ones go straight through.',
  api: true,
  flags: {
    reason: { type: 'string', value: 'TEXT', help: 'why, for the history and the audit log' },
    json: { type: 'boolean', help: 'print the result as JSON' },
  },
  async run(values, positionals, ctx) {
    const [service] = positionals;
    if (!service || positionals.length > 1) throw badUsage(USAGE);
    const r = await api<HoldAnswer>(
      'POST',
      `/services/${encodeURIComponent(service)}/resume`,
      values.reason ? { reason: values.reason } : {},
    );
    if (values.json) ctx.stdout.write(`${JSON.stringify(r)}\n`);
    else
      ctx.stdout.write(
        `${r.service}: resumed (generation ${r.generation})${r.maintenance ? '; maintenance is still on: `cutover maintenance <service> off`' : ''}\n`,
      );
    return 0;
  },
});
