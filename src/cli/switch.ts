// `cutover switch <service> <blue|green>`: the operator's escape hatch, recorded like all else.
import { api } from './client.ts';
import { badUsage, defineCommand } from './command.ts';

const USAGE = 'switch <service> <blue|green> [--force] [--reason TEXT] [--json]';

export const { run, help } = defineCommand({
  usage: USAGE,
  summary:
    'Move all traffic of <service> to a slot at once, outside any release (the escape hatch; it is recorded with your\n' +
    'name and reason). Refused when the slot has no healthy target, or (with parity.strict) when the slots differ\n' +
    'besides their version, unless --force.',
  api: true,
  flags: {
    force: {
      type: 'boolean',
      help: 'switch even when no target of the slot is healthy (its users will see errors), or the slots differ (parity.strict)',
    },
    reason: { type: 'string', value: 'TEXT', help: 'why, for the history and the audit log' },
    json: { type: 'boolean', help: 'print the result as JSON' },
  },
  async run(values, positionals, ctx) {
    const [service, slot] = positionals;
    if (!service || (slot !== 'blue' && slot !== 'green') || positionals.length > 2) throw badUsage(USAGE);
    const started = performance.now();
    const r = await api<{ service: string; live: string; generation: number }>('POST', `/services/${encodeURIComponent(service)}/switch`, {
      slot,
      ...(values.force ? { force: true } : {}),
      ...(values.reason ? { reason: values.reason } : {}),
    });
    if (values.json) ctx.stdout.write(`${JSON.stringify(r)}\n`);
    else ctx.stdout.write(`${r.service}: ${r.live} is live (generation ${r.generation}, ${(performance.now() - started).toFixed(1)} ms)\n`);
    return 0;
  },
});
