// `cutover deploy <service> <version> [--wait] [--json]`: starts a release; with --wait, follows it
// to its end, one line per phase (a live checklist on a terminal), and exits 0 (promoted/retired) or
// 1 (failed/aborted/rolled back). Piped output gets a line at least every HEARTBEAT ms, so a CI log
// never goes silent; Ctrl-C stops following only (the release goes on) and says how to follow it.
import type { ReleaseStatus } from '../api/types.ts';
import { api } from './client.ts';
import { badUsage, defineCommand } from './command.ts';
import { EXIT } from './exit.ts';
import type { CommandContext } from './main.ts';
import { holdLine, holdOf } from './hold.ts';
import { LiveChecklist, stepText } from './progress.ts';
import { humanReason } from './time.ts';

/** How often --wait asks the API for news. */
const POLL_INTERVAL = 250;
/** The longest a piped --wait stays silent. */
export const HEARTBEAT = 10_000;
const DONE = new Set(['promoted', 'retired']);
const BAD = new Set(['failed', 'aborted', 'rolled-back']);
const USAGE = 'deploy <service> <version> [--wait] [--json]  |  deploy --group <group> <version> [--wait] [--json]';

export const { run, help } = defineCommand({
  usage: USAGE,
  summary:
    'Start a release of <version> into the idle slot of <service>. With --wait, follow it to its end: exit 0 when it is\n' +
    'promoted, 1 when it ended failed, aborted or rolled back. Ctrl-C stops following; the release goes on.\n' +
    'With --group: one release per service of the group (config `groups`), switched together, rolled back together.',
  api: true,
  flags: {
    wait: { type: 'boolean', help: 'follow the release to its end with live progress (a line at least every 10 s when piped)' },
    group: { type: 'string', value: 'GROUP', help: 'release <version> to every service of this group together' },
    json: { type: 'boolean', help: 'print the release as JSON (with --wait: once, as it ended)' },
  },
  async run(values, positionals, ctx) {
    if (values.group !== undefined) return deployGroup(ctx, values.group, positionals, values.wait === true, values.json === true);
    const [service, version] = positionals;
    if (!service || !version || positionals.length > 2) throw badUsage(USAGE);
    const release = await api<ReleaseStatus>('POST', `/services/${encodeURIComponent(service)}/releases`, { version });
    if (!values.wait) {
      if (values.json) ctx.stdout.write(`${JSON.stringify(release)}\n`);
      else
        ctx.stdout.write(
          `${service}: release ${release.id} of version ${release.version} started into ${release.slot}; follow it with \`cutover status ${service}\`\n`,
        );
      return EXIT.done;
    }
    if (!values.json) ctx.stdout.write(`${service}: release ${release.id} of version ${release.version} into ${release.slot}\n`);
    const end = await followUntilInterrupted(ctx, service, release.id, !values.json);
    if (end === 'interrupted') return EXIT.interrupted;
    if (values.json) ctx.stdout.write(`${JSON.stringify(end)}\n`);
    else if (end.phase === 'promoted')
      ctx.stdout.write(`${service}: version ${end.version} is live; the old slot is on standby (\`cutover rollback ${service}\`)\n`);
    return exitCode(end.phase);
  },
});

/** `deploy --group <group> <version>`: the members' releases; with --wait, until all have ended (0: all promoted). */
async function deployGroup(ctx: CommandContext, group: string, positionals: string[], wait: boolean, json: boolean): Promise<number> {
  const [version] = positionals;
  if (!version || positionals.length > 1) throw badUsage(USAGE);
  const started = await api<{ group: string; id: string; releases: (ReleaseStatus & { service: string })[] }>(
    'POST',
    `/groups/${encodeURIComponent(group)}/releases`,
    { version },
  );
  if (!json)
    for (const r of started.releases)
      ctx.stdout.write(`${group} (${started.id}): ${r.service}: release ${r.id} of version ${r.version} into ${r.slot}\n`);
  if (!wait) {
    if (json) ctx.stdout.write(`${JSON.stringify(started)}\n`);
    return EXIT.done;
  }
  const ends = await Promise.all(
    started.releases.map(async (r) => ({ ...(await follow(ctx, r.service, r.id, false)), service: r.service })),
  );
  if (json) ctx.stdout.write(`${JSON.stringify({ ...started, releases: ends })}\n`);
  else for (const e of ends) ctx.stdout.write(`${group}: ${e.service}: ${e.phase}: ${(e.reason ?? '').split('\n')[0]}\n`);
  return ends.every((e) => DONE.has(e.phase)) ? EXIT.done : EXIT.releaseEnded;
}

export function exitCode(phase: string): number {
  return DONE.has(phase) ? EXIT.done : EXIT.releaseEnded;
}

/** follow(), until the release ends or the user presses Ctrl-C (then says the release goes on). */
async function followUntilInterrupted(
  ctx: CommandContext,
  service: string,
  id: string,
  print: boolean,
): Promise<ReleaseStatus | 'interrupted'> {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  try {
    return await follow(ctx, service, id, print, stop.signal);
  } catch (err) {
    if (!stop.signal.aborted) throw err;
    const text =
      `\ncutover: stopped following; release ${id} goes on in the daemon.\n` +
      `  follow it: cutover status ${service}   (or the dashboard)\n` +
      `  stop it:   cutover abort ${service}    (before traffic moves)  /  cutover rollback ${service}\n`;
    ctx.stderr.write(text);
    return 'interrupted';
  } finally {
    process.off('SIGINT', onSignal);
  }
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });

/** What a release is doing right now, in one line: the newest analysis run, else the phase's reason. */
export function nowLine(r: ReleaseStatus): string {
  const a = r.analysis.at(-1);
  const step = r.step ? ` ${stepText(r.step)},` : '';
  if (a && a.state === 'running') {
    const ticks = `${a.ticks.pass} pass, ${a.ticks.fail} fail, ${a.ticks.inconclusive} inconclusive`;
    return `still ${r.phase}:${step} analysis ${a.label} ${a.reason} (${ticks})`;
  }
  return `still ${r.phase}:${step} ${humanReason((r.reason ?? '').split('\n')[0] ?? '')}`;
}

/** Polls the release until it is promoted or ended, printing each phase event once. */
export async function follow(
  ctx: CommandContext,
  service: string,
  id: string,
  print: boolean,
  signal?: AbortSignal,
): Promise<ReleaseStatus> {
  let seen = 0;
  // A terminal gets a live checklist with a spinner; anything else (CI logs, pipes) plain lines.
  const live = print && ctx.stdout.isTTY === true ? new LiveChecklist(ctx.stdout) : null;
  let lastLine = Date.now();
  let heldOn: string | null = null;
  let stepOn: string | null = null;
  let start: number | undefined;
  for (;;) {
    const r = await api<ReleaseStatus>(
      'GET',
      `/services/${encodeURIComponent(service)}/releases/${encodeURIComponent(id)}`,
      undefined,
      signal,
    );
    const hold = holdOf(service, r);
    if (live !== null) {
      live.draw(r, hold === null ? [] : [holdLine(hold)]);
      if (DONE.has(r.phase) || BAD.has(r.phase)) {
        if (BAD.has(r.phase) && r.reason) ctx.stdout.write(`\n${r.reason}\n`);
        return r;
      }
      await sleep(POLL_INTERVAL / 2, signal);
      continue;
    }
    const phases = r.events.filter((e) => e.type === 'phase');
    start ??= Date.parse(phases[0]?.time ?? r.createdAt);
    const at = (time: number): string => `+${((time - (start ?? time)) / 1000).toFixed(1)}s`.padStart(8);
    for (const e of phases.slice(seen)) {
      if (!print) continue;
      const reason = humanReason(e.reason).split('\n');
      ctx.stdout.write(`  ${at(Date.parse(e.time))}  ${(e.phase ?? '').padEnd(17)} ${reason[0]}\n`);
      for (const line of reason.slice(1)) ctx.stdout.write(`  ${' '.repeat(27)}${line}\n`);
      lastLine = Date.now();
    }
    seen = phases.length;
    // Each step of a progressive shift gets its line as it starts, as a phase does.
    const step = r.step ? stepText(r.step) : null;
    if (print && step !== null && step !== stepOn) {
      ctx.stdout.write(`  ${at(Date.now())}  ${r.phase.padEnd(17)} ${step}\n`);
      lastLine = Date.now();
    }
    stepOn = step;
    if (DONE.has(r.phase) || BAD.has(r.phase)) return r;
    // A hold is said at once (then with every heartbeat): nobody should wait for a release that waits for them.
    const holding = hold === null ? null : `${hold.label}: ${hold.reason}`;
    if (print && (Date.now() - lastLine >= HEARTBEAT - POLL_INTERVAL || (holding !== null && holding !== heldOn))) {
      ctx.stdout.write(`  ${at(Date.now())}  ${r.phase.padEnd(17)} ${hold === null ? nowLine(r) : holdLine(hold)}\n`);
      lastLine = Date.now();
    }
    heldOn = holding;
    await sleep(POLL_INTERVAL, signal);
  }
}
