// `cutover deploy <service> <version> [--wait] [--json]`: starts a release; with --wait, follows it
// to its end, one line per phase, and exits 0 (promoted/retired) or 1 (failed/aborted/rolled back).
import { parseArgs } from 'node:util';
import { usageError } from '../errors.ts';
import type { ReleaseStatus } from '../controller/service.ts';
import { api } from './client.ts';
import { LiveChecklist } from './progress.ts';
import type { Command, CommandContext } from './main.ts';

/** How often --wait asks the API for news. */
const POLL_INTERVAL = 250;
const DONE = new Set(['promoted', 'retired']);
const BAD = new Set(['failed', 'aborted', 'rolled-back']);

export const run: Command = async (ctx) => {
  const { values, positionals } = parseArgs({
    args: ctx.argv,
    allowPositionals: true,
    options: { wait: { type: 'boolean' }, json: { type: 'boolean' } },
  });
  const [service, version] = positionals;
  if (!service || !version || positionals.length > 2) throw usageError('usage: cutover deploy <service> <version> [--wait] [--json]');
  const release = await api<ReleaseStatus>('POST', `/services/${encodeURIComponent(service)}/releases`, { version });
  if (!values.wait) {
    if (values.json) ctx.stdout.write(`${JSON.stringify(release)}\n`);
    else
      ctx.stdout.write(
        `${service}: release ${release.id} of version ${release.version} started into ${release.slot}; follow it with \`cutover status ${service}\`\n`,
      );
    return 0;
  }
  if (!values.json) ctx.stdout.write(`${service}: release ${release.id} of version ${release.version} into ${release.slot}\n`);
  const end = await follow(ctx, service, release.id, !values.json);
  if (values.json) ctx.stdout.write(`${JSON.stringify(end)}\n`);
  return exitCode(end.phase);
};

export function exitCode(phase: string): number {
  return DONE.has(phase) ? 0 : 1;
}

/** Polls the release until it is promoted or ended, printing each phase event once. */
export async function follow(ctx: CommandContext, service: string, id: string, print: boolean): Promise<ReleaseStatus> {
  let seen = 0;
  // A terminal gets a live checklist with a spinner; anything else (CI logs, pipes) plain lines.
  const live = print && ctx.stdout.isTTY === true ? new LiveChecklist(ctx.stdout) : null;
  for (;;) {
    const r = await api<ReleaseStatus>('GET', `/services/${encodeURIComponent(service)}/releases/${encodeURIComponent(id)}`);
    if (live !== null) {
      live.draw(r);
      if (DONE.has(r.phase) || BAD.has(r.phase)) {
        if (BAD.has(r.phase) && r.reason) ctx.stdout.write(`\n${r.reason}\n`);
        return r;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL / 2));
      continue;
    }
    const phases = r.events.filter((e) => e.type === 'phase');
    const start = Date.parse(phases[0]?.time ?? r.createdAt);
    for (const e of phases.slice(seen)) {
      if (!print) continue;
      const t = ((Date.parse(e.time) - start) / 1000).toFixed(1);
      const reason = e.reason.split('\n');
      ctx.stdout.write(`  ${`+${t}s`.padStart(8)}  ${(e.phase ?? '').padEnd(17)} ${reason[0]}\n`);
      for (const line of reason.slice(1)) ctx.stdout.write(`  ${' '.repeat(27)}${line}\n`);
    }
    seen = phases.length;
    if (DONE.has(r.phase) || BAD.has(r.phase)) return r;
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL));
  }
}
