// `cutover drill <service> --errors 30% | --latency 2s [--wait] [--json]`: a rollback drill. The
// daemon releases the live version into the idle slot and, once traffic moves, the router makes the
// new slot's answers fail (--errors) or wait (--latency); the service's analysis must roll it back
// within the MTTR goal (1 s). With --wait it follows the drill to its end and exits 0 when the drill
// passed (rolled back in time), 1 when it did not.
import type { ReleaseStatus } from '../api/types.ts';
import { parseDuration } from '../config/duration.ts';
import { usageError } from '../errors.ts';
import { api } from './client.ts';
import { badUsage, defineCommand } from './command.ts';
import { follow } from './deploy.ts';
import { EXIT } from './exit.ts';

const USAGE = 'drill <service> (--errors 30% | --latency 2s) [--wait] [--json]';

export const { run, help } = defineCommand({
  usage: USAGE,
  summary:
    "A rollback drill: release the live version of <service> again into the idle slot, make the new slot's answers fail\n" +
    '(--errors) or wait (--latency) once traffic moves, and prove that analysis rolls it back within 1 s. The result is\n' +
    'recorded with the release (`cutover history`). With --wait: exit 0 when the drill passed, 1 when it did not.',
  api: true,
  flags: {
    errors: { type: 'string', value: 'SHARE', help: "share of the new slot's answers that fail with 500, like 30% or 0.3" },
    latency: { type: 'string', value: 'DURATION', help: "how long each of the new slot's answers waits, like 2s" },
    wait: { type: 'boolean', help: 'follow the drill to its end and print its result' },
    json: { type: 'boolean', help: 'print the release as JSON (with --wait: once, as it ended)' },
  },
  async run(values, positionals, ctx) {
    const [service] = positionals;
    if (!service || positionals.length > 1) throw badUsage(USAGE);
    if (values.errors === undefined && values.latency === undefined) throw badUsage(USAGE);
    const body: { errors?: number; latency?: number } = {};
    if (values.errors !== undefined) body.errors = share(values.errors);
    if (values.latency !== undefined) body.latency = latency(values.latency);
    const release = await api<ReleaseStatus>('POST', `/services/${encodeURIComponent(service)}/drills`, body);
    if (!values.wait) {
      if (values.json) ctx.stdout.write(`${JSON.stringify(release)}\n`);
      else
        ctx.stdout.write(
          `${service}: drill ${release.id} started (version ${release.version} into ${release.slot}); see its result with \`cutover history ${service}\`\n`,
        );
      return EXIT.done;
    }
    if (!values.json) ctx.stdout.write(`${service}: drill ${release.id}: version ${release.version} into ${release.slot}\n`);
    const end = await follow(ctx, service, release.id, !values.json);
    if (values.json) ctx.stdout.write(`${JSON.stringify(end)}\n`);
    else ctx.stdout.write(`${service}: drill ${end.drill?.result ?? 'ended'}: ${end.drill?.summary ?? end.phase}\n`);
    return end.drill?.result === 'passed' ? EXIT.done : EXIT.releaseEnded;
  },
});

/** `30%` or `0.3` as a share above 0 and at most 1. */
export function share(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(%?)$/.exec(text.trim());
  const v = m ? Number(m[1]) / (m[2] === '%' ? 100 : 1) : Number.NaN;
  if (!(v > 0 && v <= 1)) throw usageError(`--errors ${text}: write a share above 0 and at most 100%, like 30% or 0.3`);
  return v;
}

function latency(text: string): number {
  try {
    const ms = parseDuration(text);
    if (ms >= 1 && ms <= 60_000) return ms;
  } catch (err) {
    throw usageError(`--latency ${text}: ${(err as Error).message}`);
  }
  throw usageError(`--latency ${text}: write a duration from 1ms to 1m, like 2s`);
}
