// `cutover status [service] [--json]`: live slot, weights, generation and the health of every target,
// then the release: its phase (and shift step), when it started (local time), gate results, analysis
// runs and, while it is previewed, its preview token; a failed release, its whole reason and its logs.
// A service in maintenance or paused says so on its first lines, with the command that ends it.
import type { ParityReport, ReleaseStatus, ServiceAnswer, TrafficStatus } from '../api/types.ts';
import { formatDuration } from '../config/duration.ts';
import { api } from './client.ts';
import { badUsage, defineCommand } from './command.ts';
import { holdLine, holdOf } from './hold.ts';
import { formatEdge } from './status-edge.ts';
import { humanDuration, humanReason, localTime } from './time.ts';

export function formatStatus(s: ServiceAnswer): string {
  const lines = [
    `${s.service}  listen ${s.listen}  live ${s.live ?? '(none)'}  generation ${s.generation}  weights blue ${s.weights.blue}% green ${s.weights.green}%`,
  ];
  lines.push(...formatHeld(s));
  for (const slot of ['blue', 'green'] as const) {
    const d = s.slots[slot];
    const mark = s.live === slot ? '*' : ' ';
    lines.push(` ${mark} ${slot.padEnd(5)} ${d.version ?? '-'}${roleOf(s, slot)}`);
    for (const t of d.targets)
      lines.push(`      ${t.address}  ${t.healthy ? 'healthy' : `unhealthy${t.lastError ? ` (${t.lastError})` : ''}`}`);
  }
  if (s.traffic) lines.push(...formatTraffic(s.traffic));
  if (s.edge) lines.push(...formatEdge(s.edge));
  if (s.analysisSource?.note) lines.push(`  analysis: no evidence for the built-in rules: ${s.analysisSource.note}`);
  if (s.parity) lines.push(...formatParityLine(s.parity));
  if (s.fleet) {
    lines.push(`  fleet: controller ${s.fleet.controller}, leader ${s.fleet.leader?.id ?? '(none)'}`);
    for (const r of s.fleet.routers) {
      const lag = r.generation !== null && r.generation < s.generation ? `  (behind: ${s.generation - r.generation} generation(s))` : '';
      lines.push(`    router ${r.id}  ${r.listen ?? '-'}  serving generation ${r.generation ?? '-'}${lag}`);
    }
  }
  if (s.release) lines.push(...formatRelease(s.release, s.service));
  return lines.join('\n');
}

/** Maintenance and pause, right under the service's name: users do not reach the live slot now. */
export function formatHeld(s: Pick<ServiceAnswer, 'service' | 'maintenance' | 'paused'>): string[] {
  const lines: string[] = [];
  if (s.maintenance) {
    const message = s.maintenance.message === null ? '' : ` ("${s.maintenance.message}")`;
    lines.push(`  MAINTENANCE: users get the maintenance page (503)${message}; \`cutover maintenance ${s.service} off\` ends it`);
  }
  if (s.paused) {
    const beneath = s.maintenance ? ' once maintenance is off' : '';
    lines.push(
      `  PAUSED: new requests wait up to ${formatDuration(s.paused.timeout)}${beneath}, then get 503; \`cutover resume ${s.service}\` lets them through`,
    );
  }
  return lines;
}

/** The balancer that moves the traffic: what it can do, what it reports, and whether it agrees (drift). */
export function formatTraffic(t: TrafficStatus): string[] {
  const can = [t.capabilities.lossless ? 'lossless' : 'not lossless', t.capabilities.weighted ? 'weighted' : 'not weighted'];
  if (t.capabilities.eventual) can.push('eventual');
  const lines = [`  traffic  ${t.kind} (${can.join(', ')})${t.observed ? `: ${t.observed.detail}` : ''}`];
  if (t.error) {
    const code = t.errorCode ? ` (${t.errorCode})` : '';
    const retry = t.retryAt ? `; applying the route table again at ${localTime(t.retryAt)}` : '';
    lines.push(`    unreachable or refusing${code}: ${t.error}${retry}`);
  }
  if (t.drift.length > 0) {
    lines.push('    DRIFT: the balancer does not serve the route table (cutover switch applies it again):');
    for (const d of t.drift) lines.push(`      ${d}`);
  } else if (t.observed) lines.push('    agrees with the route table');
  for (const n of t.observed?.notes ?? []) lines.push(`    note: ${n}`);
  return lines;
}

/** Parity in status: one line when the slots agree (or cannot be compared), every difference when not. */
export function formatParityLine(p: ParityReport): string[] {
  if (!p.compared) return [`  parity   ${p.note ?? 'nothing compared'}`];
  if (p.differences.length === 0) return ['  parity   blue and green differ only in their version'];
  return [
    `  parity   DRIFT: blue and green differ besides their version${p.strict ? ' (parity.strict: a switch is refused)' : ''} (cutover parity ${p.service}):`,
    ...p.differences.map((d) => `    ${d.text}`),
  ];
}

const BEFORE_TRAFFIC = new Set(['pending', 'provisioning', 'verifying', 'awaiting-approval']);
const ENDED = new Set(['retired', 'failed', 'aborted', 'rolled-back']);

/** What a slot does beyond its version: its share of a shift, the version being provisioned into it, standby. */
function roleOf(s: ServiceAnswer, slot: 'blue' | 'green'): string {
  const r = s.release;
  const share = s.weights[slot];
  if (s.live !== slot && share > 0) return `  (takes ${share}% of new clients)`;
  if (s.live === slot && share < 100) return `  (live, keeps ${share}% of new clients)`;
  if (r && r.slot === slot && BEFORE_TRAFFIC.has(r.phase)) return `  (${r.phase} version ${r.version})`;
  if (r && r.fromSlot === slot && s.live !== slot && (r.phase === 'promoted' || r.phase === 'observing')) return '  (standby)';
  return '';
}

const OUTCOME_MARK: Record<string, string> = { passed: 'ok  ', failed: 'FAIL', error: 'ERR ', timeout: 'TIME' };

/** `group shop (grp_…): web, api, worker` for a release of a group (`deploy --group`), else null. */
export function groupLine(data: ReleaseStatus['data'] | undefined): string | null {
  const g = data?.group as { name?: unknown; id?: unknown; members?: unknown } | undefined;
  if (!g || typeof g.name !== 'string') return null;
  return `group ${g.name} (${String(g.id)}): ${Array.isArray(g.members) ? g.members.join(', ') : ''}`;
}

/** The release part of status: phase and reason, gates, analysis runs, and the preview token line. */
export function formatRelease(r: ReleaseStatus, service?: string, now = Date.now()): string[] {
  const step = r.step ? `  step ${r.step.step} of ${r.step.of} (${r.step.percent}%)` : '';
  const lines = [
    `  release ${r.id}  version ${r.version}  ${r.fromSlot ?? '-'} -> ${r.slot}  ${r.phase}${step}  started ${localTime(r.createdAt, now)}`,
  ];
  const group = groupLine(r.data);
  if (group !== null) lines.push(`    ${group}`);
  if (r.drill) lines.push(`    drill: ${r.drill.result}: ${r.drill.summary}`);
  const reason = humanReason(r.reason ?? '').split('\n');
  if (reason[0]) lines.push(`    ${reason[0]}`, ...reason.slice(1).map((l) => `    ${l}`));
  // The whole reason is above (the app's own output when it quotes it); its log has the rest.
  if (r.phase === 'failed' && service !== undefined && !reason.some((l) => l.includes('cutover logs')))
    lines.push(`    logs: cutover logs ${service} --slot ${r.slot}`);
  const hold = service === undefined ? null : holdOf(service, r);
  if (hold !== null) lines.push(`  ${holdLine(hold)}`);
  if (r.preview) {
    const how =
      r.preview.token !== undefined
        ? `${r.preview.header}: ${r.preview.token}  (or cookie ${r.preview.cookie})`
        : `header ${r.preview.header} or cookie ${r.preview.cookie} (the token is shown to deployers)`;
    lines.push(`  preview  ${how}${r.preview.listen ? `; every request on ${r.preview.listen}` : ''}`);
  }
  for (const [i, g] of (r.gates ?? []).entries()) {
    lines.push(
      `  gate ${i + 1}  ${OUTCOME_MARK[g.outcome] ?? g.outcome}  ${g.name}  ${humanDuration(g.durationMs)}  ${humanReason(g.summary)}`,
    );
  }
  for (const a of r.analysis ?? []) {
    // A release that ended has nothing running or holding any more: such a run is stale (it stopped
    // with the release, like the standby watch at a rollback); its verdicts stay, they say why it ended.
    if (ENDED.has(r.phase) && (a.state === 'running' || a.state === 'waiting' || a.action === 'hold')) continue;
    const ends = a.state === 'running' && a.endsAt ? `  ends ${localTime(a.endsAt, now)}` : '';
    lines.push(
      `  analysis ${a.label}: ${a.state}${a.action ? ` (${a.action})` : ''}  ticks pass ${a.ticks.pass} fail ${a.ticks.fail} inconclusive ${a.ticks.inconclusive}${ends}`,
    );
    for (const rule of a.rules) lines.push(`    ${rule.rule}  ${rule.value ?? '-'}  ${rule.threshold ?? ''}  ${rule.verdict}`);
    if (a.warning) lines.push(`    warning: ${a.warning}`);
  }
  return lines;
}

const USAGE = 'status [service] [--json]';

export const { run, help } = defineCommand({
  usage: USAGE,
  summary: 'Show every service (or one): live slot, weights, generation, the health of every target, and the current release.',
  api: true,
  flags: { json: { type: 'boolean', help: 'print the status as the API gives it (JSON)' } },
  async run(values, positionals, ctx) {
    const [service] = positionals;
    if (positionals.length > 1) throw badUsage(USAGE);
    const result = service
      ? await api<ServiceAnswer>('GET', `/services/${encodeURIComponent(service)}`)
      : await api<ServiceAnswer[]>('GET', '/services');
    if (values.json) ctx.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else ctx.stdout.write(`${(Array.isArray(result) ? result : [result]).map(formatStatus).join('\n\n')}\n`);
    return 0;
  },
});
