// `cutover pause <service> [--timeout D]`: new requests wait (each up to the timeout, then 503) until
// `cutover resume`; requests already running finish. Recorded in the store like a switch.
import { formatDuration } from '../config/duration.ts';
import { api } from './client.ts';
import { badUsage, defineCommand } from './command.ts';
import type { HoldAnswer } from './resume.ts';

const USAGE = 'pause <service> [--timeout D] [--reason TEXT] [--json]';

export const { run, help } = defineCommand({
  usage: USAGE,
  summary:
    'Hold new requests of <service> at its router until `cutover resume` (each request waits up to --timeout, then\n' +
    'gets 503); requests already running finish. Survives a restart of the controller.',
  api: true,
  flags: {
    timeout: { type: 'string', value: 'D', default: '30s', help: 'how long one request waits for the resume, at most 1h' },
    reason: { type: 'string', value: 'TEXT', help: 'why, for the history and the audit log' },
    json: { type: 'boolean', help: 'print the result as JSON' },
  },
  async run(values, positionals, ctx) {
    const [service] = positionals;
    if (!service || positionals.length > 1) throw badUsage(USAGE);
    const r = await api<HoldAnswer>('POST', `/services/${encodeURIComponent(service)}/pause`, {
      ...(values.timeout ? { timeout: values.timeout } : {}),
      ...(values.reason ? { reason: values.reason } : {}),
    });
    if (values.json) ctx.stdout.write(`${JSON.stringify(r)}\n`);
    else
      ctx.stdout.write(
        `${r.service}: paused; new requests wait up to ${formatDuration(r.paused?.timeout ?? 0)} for \`cutover resume ${r.service}\` (generation ${r.generation})\n`,
      );
    return 0;
  },
});
