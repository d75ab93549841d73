// `cutover status [service] [--json]`: live slot, weights, generation and the health of every target.
import { parseArgs } from 'node:util';
import type { ServiceStatus } from '../controller/service.ts';
import { api } from './client.ts';
import type { Command } from './main.ts';

export function formatStatus(s: ServiceStatus): string {
  const lines = [`${s.service}  listen ${s.listen}  live ${s.live ?? '(none)'}  generation ${s.generation}  weights blue ${s.weights.blue}% green ${s.weights.green}%`];
  for (const slot of ['blue', 'green'] as const) {
    const d = s.slots[slot];
    const mark = s.live === slot ? '*' : ' ';
    lines.push(` ${mark} ${slot.padEnd(5)} ${d.version ?? '-'}`);
    for (const t of d.targets) lines.push(`      ${t.address}  ${t.healthy ? 'healthy' : `unhealthy${t.lastError ? ` (${t.lastError})` : ''}`}`);
  }
  return lines.join('\n');
}

export const run: Command = async (ctx) => {
  const { values, positionals } = parseArgs({ args: ctx.argv, allowPositionals: true, options: { json: { type: 'boolean' } } });
  const [service] = positionals;
  const result = service ? await api<ServiceStatus>('GET', `/services/${encodeURIComponent(service)}`) : await api<ServiceStatus[]>('GET', '/services');
  if (values.json) ctx.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else ctx.stdout.write((Array.isArray(result) ? result : [result]).map(formatStatus).join('\n\n') + '\n');
  return 0;
};
