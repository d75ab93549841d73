// `cutover parity <service> [--json]`: what differs between the two slots besides the version
// (command, environment variable names, never values, replicas, config hash, what the provider
// sees running). Exit 0 when they differ only in version, 1 when they differ besides.
import type { ParityReport } from '../api/types.ts';
import { api } from './client.ts';
import { badUsage, defineCommand } from './command.ts';
import { EXIT } from './exit.ts';
import { localTime } from './time.ts';

const USAGE = 'parity <service> [--json]';

/** The report for people: one line per slot, then the verdict and every difference. */
export function formatParity(r: ParityReport, now = Date.now()): string[] {
  const lines = [
    `${r.service}: parity of blue and green, checked ${localTime(r.checkedAt, now)}${r.strict ? ' (parity.strict: a drift refuses a switch)' : ''}`,
  ];
  for (const slot of ['blue', 'green'] as const) {
    const s = r.slots[slot];
    const spec = s.spec;
    if (spec === null) {
      lines.push(`  ${slot.padEnd(5)} ${s.version ?? '-'}  (nothing to compare)`);
      continue;
    }
    const parts = [
      spec.command ? `command ${JSON.stringify(spec.command)}` : null,
      `replicas ${spec.replicas}`,
      spec.configHash ? `config ${spec.configHash}` : null,
      spec.envNames ? `env ${spec.envNames.join(' ')}` : null,
    ].filter((p) => p !== null);
    lines.push(`  ${slot.padEnd(5)} ${s.version ?? '-'}  ${parts.join('  ')}`, `        now: ${spec.view.detail}`);
  }
  if (!r.compared) lines.push(`  ${r.note ?? 'nothing compared'}`);
  else if (r.differences.length === 0) lines.push('  blue and green differ only in their version');
  else {
    lines.push('  DRIFT: blue and green differ besides their version:');
    for (const d of r.differences) lines.push(`    ${d.text}`);
  }
  return lines;
}

export const { run, help } = defineCommand({
  usage: USAGE,
  summary:
    'What differs between the two slots of <service> besides the version: command, environment variable names (never\n' +
    'their values), replicas, config hash, what the provider sees running. Exit 0 when only the version differs, 1 otherwise.',
  api: true,
  flags: { json: { type: 'boolean', help: 'print the report as the API gives it (JSON)' } },
  async run(values, positionals, ctx) {
    const [service] = positionals;
    if (!service || positionals.length > 1) throw badUsage(USAGE);
    const r = await api<ParityReport>('GET', `/services/${encodeURIComponent(service)}/parity`);
    if (values.json) ctx.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else ctx.stdout.write(`${formatParity(r).join('\n')}\n`);
    return r.differences.length === 0 ? EXIT.done : EXIT.releaseEnded;
  },
});
