// `cutover history <service> [--json] [-n N]`: the service's releases, newest first.
import { parseArgs } from 'node:util';
import { usageError } from '../errors.ts';
import type { ReleaseRecord } from '../store/types.ts';
import { api } from './client.ts';
import type { Command } from './main.ts';

export const run: Command = async (ctx) => {
  const { values, positionals } = parseArgs({
    args: ctx.argv,
    allowPositionals: true,
    options: { json: { type: 'boolean' } },
  });
  const [service] = positionals;
  if (!service || positionals.length > 1) throw usageError('usage: cutover history <service> [--json]');
  const releases = await api<ReleaseRecord[]>('GET', `/services/${encodeURIComponent(service)}/releases`);
  if (values.json) {
    ctx.stdout.write(JSON.stringify(releases, null, 2) + '\n');
    return 0;
  }
  if (releases.length === 0) {
    ctx.stdout.write(`${service}: no releases yet; start one with \`cutover deploy ${service} <version>\`\n`);
    return 0;
  }
  const rows = releases.map((r) => [r.createdAt.replace('T', ' ').slice(0, 19), r.id, r.version, `${r.fromSlot ?? '-'} -> ${r.slot}`, r.phase, (r.reason ?? '').split('\n')[0] ?? '']);
  const head = ['started (UTC)', 'release', 'version', 'slots', 'phase', 'reason'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  for (const row of [head, ...rows]) ctx.stdout.write(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ') + '\n');
  return 0;
};
