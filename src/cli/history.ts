// `cutover history <service> [--json] [-n N]`: the service's releases, newest first, at local times
// with how long ago.
import type { DrillResult } from '../controller/drill-spec.ts';
import type { ReleaseRecord, StoreEvent } from '../store/types.ts';
import { api } from './client.ts';
import { badUsage, defineCommand } from './command.ts';
import type { CommandContext } from './main.ts';
import { humanReason, localTime } from './time.ts';

const USAGE = 'history <service> [--json]';

/** The group a release was deployed with (`deploy --group`), or null. */
function groupName(r: ReleaseRecord): string | null {
  const g = r.data?.group as { name?: unknown } | undefined;
  return typeof g?.name === 'string' ? g.name : null;
}

/** A drill's result for the phase column (`passed in 420 ms`), or null for an ordinary release. */
function drillOf(r: ReleaseRecord & { drill?: DrillResult }): string | null {
  const d = r.drill;
  if (!d) return null;
  return d.timeToRollbackMs === null ? d.result : `${d.result}, ${d.timeToRollbackMs} ms`;
}

export const { run, help } = defineCommand({
  usage: USAGE,
  summary: "The releases of <service>, newest first, with each one's phase and reason, then the audit log of API calls.",
  api: true,
  flags: { json: { type: 'boolean', help: 'print the releases as JSON' } },
  async run(values, positionals, ctx) {
    const [service] = positionals;
    if (!service || positionals.length > 1) throw badUsage(USAGE);
    const releases = await api<ReleaseRecord[]>('GET', `/services/${encodeURIComponent(service)}/releases`);
    const audit = values.json ? [] : await api<StoreEvent[]>('GET', `/services/${encodeURIComponent(service)}/audit?limit=20`);
    if (values.json) {
      ctx.stdout.write(`${JSON.stringify(releases, null, 2)}\n`);
      return 0;
    }
    if (releases.length === 0) {
      ctx.stdout.write(`${service}: no releases yet; start one with \`cutover deploy ${service} <version>\`\n`);
      writeAudit(ctx, audit);
      return 0;
    }
    const now = Date.now();
    const rows = releases.map((r) => [
      localTime(r.createdAt, now),
      r.id,
      // A rollback is a release of an earlier version: named so beside it.
      `${r.version}${r.data?.rollback === undefined ? '' : ' (rollback)'}${groupName(r) === null ? '' : ` [group ${groupName(r)}]`}`,
      `${r.fromSlot ?? '-'} -> ${r.slot}`,
      drillOf(r) === null ? r.phase : `${r.phase} (drill ${drillOf(r)})`,
      humanReason((r.reason ?? '').split('\n')[0] ?? ''),
    ]);
    const head = ['started', 'release', 'version', 'slots', 'phase', 'reason'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    for (const row of [head, ...rows])
      ctx.stdout.write(`${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`);
    writeAudit(ctx, audit);
    return 0;
  },
});

/** The audit log under the releases: who called the API to change what, from where. */
function writeAudit(ctx: CommandContext, audit: StoreEvent[]): void {
  if (audit.length === 0) return;
  ctx.stdout.write('\naudit log (newest first)\n');
  const now = Date.now();
  const rows = audit.map((e) => [
    localTime(e.time, now),
    e.actor,
    `${String(e.data.method)} ${String(e.data.path)}`,
    String(e.data.status),
    String(e.data.remote),
  ]);
  const head = ['time', 'who', 'what', 'status', 'from'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  for (const row of [head, ...rows])
    ctx.stdout.write(`${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`);
}
