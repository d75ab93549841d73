// `cutover switch <service> <blue|green>`: the operator's escape hatch, recorded like all else.
import { parseArgs } from 'node:util';
import { usageError } from '../errors.ts';
import { api } from './client.ts';
import type { Command } from './main.ts';

export const run: Command = async (ctx) => {
  const { values, positionals } = parseArgs({
    args: ctx.argv,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, force: { type: 'boolean' }, reason: { type: 'string' } },
  });
  const [service, slot] = positionals;
  if (!service || (slot !== 'blue' && slot !== 'green') || positionals.length > 2) {
    throw usageError('usage: cutover switch <service> <blue|green> [--force] [--reason TEXT] [--json]');
  }
  const started = performance.now();
  const r = await api<{ service: string; live: string; generation: number }>('POST', `/services/${encodeURIComponent(service)}/switch`, {
    slot,
    ...(values.force ? { force: true } : {}),
    ...(values.reason ? { reason: values.reason } : {}),
  });
  if (values.json) ctx.stdout.write(`${JSON.stringify(r)}\n`);
  else ctx.stdout.write(`${r.service}: ${r.live} is live (generation ${r.generation}, ${(performance.now() - started).toFixed(1)} ms)\n`);
  return 0;
};
