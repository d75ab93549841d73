// `cutover rollback <service> [--to VERSION] [--wait]`: the controller decides how. While the old
// slot is on standby, all traffic goes back to it at once (one route-table swap). Otherwise, whenever
// an earlier version is known (--to VERSION, a standby a failed release gave back, or the version
// live before), the rollback is a release of it named as such: instant when it stands by, else
// through its gates; --wait follows that one like `deploy --wait`.
import type { ReleaseStatus } from '../api/types.ts';
import { api } from './client.ts';
import { badUsage, defineCommand } from './command.ts';
import { exitCode, follow } from './deploy.ts';
import { EXIT } from './exit.ts';

const USAGE = 'rollback <service> [--to VERSION] [--wait] [--reason TEXT] [--json]';

export const { run, help } = defineCommand({
  usage: USAGE,
  summary:
    'Put all traffic of <service> back on the slot on standby at once (one route-table swap). With nothing on standby, or\n' +
    '--to VERSION: a release of the earlier version, named a rollback: at once when it stands by, otherwise through its gates.',
  api: true,
  flags: {
    to: { type: 'string', value: 'VERSION', help: 'the version to go back to (default: the one on standby, else the one live before)' },
    wait: { type: 'boolean', help: 'when the rollback is a release through its gates: follow it to its end' },
    reason: { type: 'string', value: 'TEXT', help: 'why, for the history and the audit log' },
    json: { type: 'boolean', help: 'print the release as JSON' },
  },
  async run(values, positionals, ctx) {
    const [service] = positionals;
    if (!service || positionals.length > 1) throw badUsage(USAGE);
    const started = performance.now();
    const body: Record<string, unknown> = {};
    if (values.reason !== undefined) body.reason = values.reason;
    if (values.to !== undefined) body.to = values.to;
    const r = await api<ReleaseStatus>('POST', `/services/${encodeURIComponent(service)}/rollback`, body);
    const ms = `${(performance.now() - started).toFixed(0)} ms`;
    const of = r.data.rollback as { instant?: boolean; from?: string | null } | undefined;
    if (of === undefined) {
      // The active release was swapped back to its old slot.
      if (values.json) ctx.stdout.write(`${JSON.stringify(r)}\n`);
      else
        ctx.stdout.write(
          `${service}: release ${r.id} of version ${r.version} rolled back; ${r.fromSlot ?? 'the old slot'} is live again (${ms})\n`,
        );
      return EXIT.done;
    }
    if (of.instant === true) {
      if (values.json) ctx.stdout.write(`${JSON.stringify(r)}\n`);
      else if (r.phase === 'promoted')
        ctx.stdout.write(
          `${service}: rolled back to version ${r.version}, which stood by in ${r.slot}: it is live again (rollback release ${r.id}, ${ms})\n`,
        );
      else
        ctx.stdout.write(
          `${service}: rollback release ${r.id} to version ${r.version} (on standby in ${r.slot}) is ${r.phase}: ${r.reason ?? ''}\n`,
        );
      return exitCode(r.phase);
    }
    if (!values.json)
      ctx.stdout.write(
        `${service}: version ${r.version} is not on standby: rolling back by a release of ${r.version} through its gates (rollback release ${r.id} into ${r.slot})\n`,
      );
    if (!values.wait) {
      if (values.json) ctx.stdout.write(`${JSON.stringify(r)}\n`);
      else ctx.stdout.write(`  follow it with \`cutover status ${service}\`\n`);
      return EXIT.done;
    }
    const end = await follow(ctx, service, r.id, !values.json);
    if (values.json) ctx.stdout.write(`${JSON.stringify(end)}\n`);
    return exitCode(end.phase);
  },
});
