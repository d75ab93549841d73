// `cutover rollback <service> [--to VERSION] [--wait]`: while the old slot is on standby, all traffic
// goes back to it at once (one route-table swap). With --to VERSION when that version is not on
// standby (it was retired, or displaced), the rollback is a release of VERSION through its gates,
// said as such; --wait follows it like `deploy --wait`.
import type { ReleaseStatus, ServiceAnswer } from '../api/types.ts';
import { releaseAction } from './action.ts';
import { api } from './client.ts';
import { badUsage, defineCommand } from './command.ts';
import { follow, exitCode } from './deploy.ts';
import { EXIT } from './exit.ts';

const instant = releaseAction(
  'rollback',
  'Put all traffic of <service> back on the slot on standby at once (one route-table swap).',
  (r) => `release ${r.id} of version ${r.version} rolled back; ${r.fromSlot ?? 'the old slot'} is live again`,
);

const USAGE = 'rollback <service> [--to VERSION] [--wait] [--reason TEXT] [--json]';

export const { run, help } = defineCommand({
  usage: USAGE,
  summary:
    'Put all traffic of <service> back on the slot on standby at once (one route-table swap). With --to VERSION: at once\n' +
    'when VERSION is on standby, otherwise by a release of VERSION through its gates (like deploy).',
  api: true,
  flags: {
    to: { type: 'string', value: 'VERSION', help: 'the version to go back to (default: the one on standby)' },
    wait: { type: 'boolean', help: 'with --to and no standby: follow the release of VERSION to its end' },
    reason: { type: 'string', value: 'TEXT', help: 'why, for the history and the audit log' },
    json: { type: 'boolean', help: 'print the release as JSON' },
  },
  async run(values, positionals, ctx) {
    const [service] = positionals;
    if (!service || positionals.length > 1) throw badUsage(USAGE);
    const passOn = [service, ...(values.reason ? ['--reason', values.reason] : []), ...(values.json ? ['--json'] : [])];
    if (values.to === undefined) return instant.run({ ...ctx, argv: passOn });
    const s = await api<ServiceAnswer>('GET', `/services/${encodeURIComponent(service)}`);
    const r = s.release;
    const standby = r && r.phase === 'promoted' && r.fromSlot !== null ? s.slots[r.fromSlot].version : null;
    if (standby === values.to) return instant.run({ ...ctx, argv: passOn });
    const release = await api<ReleaseStatus>('POST', `/services/${encodeURIComponent(service)}/releases`, { version: values.to });
    if (!values.json)
      ctx.stdout.write(
        `${service}: version ${values.to} is not on standby: rolling back by a release of ${values.to} through its gates (release ${release.id} into ${release.slot})\n`,
      );
    if (!values.wait) {
      if (values.json) ctx.stdout.write(`${JSON.stringify(release)}\n`);
      else ctx.stdout.write(`  follow it with \`cutover status ${service}\`\n`);
      return EXIT.done;
    }
    const end = await follow(ctx, service, release.id, !values.json);
    if (values.json) ctx.stdout.write(`${JSON.stringify(end)}\n`);
    return exitCode(end.phase);
  },
});
