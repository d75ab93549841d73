// What `cutover promote|rollback|abort <service>` share: one POST, one line (or --json) back.
import type { ReleaseStatus } from '../api/types.ts';
import { api } from './client.ts';
import { badUsage, type CommandModule, defineCommand, type Flags } from './command.ts';

const REASON = { reason: { type: 'string', value: 'TEXT', help: 'why, for the history and the audit log' } } as const;
const JSON_FLAG = { json: { type: 'boolean', help: 'print the release as JSON' } } as const;

export function releaseAction(
  action: 'promote' | 'rollback' | 'abort',
  summary: string,
  done: (r: ReleaseStatus, values: Record<string, unknown>) => string,
  extra: Flags = {},
): CommandModule {
  const flags: Flags = { ...extra, ...(action === 'promote' ? {} : REASON), ...JSON_FLAG };
  const usage = `${action} <service>${Object.entries(flags)
    .map(([k, f]) => ` [--${k}${f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : ''}]`)
    .join('')}`;
  return defineCommand({
    usage,
    summary,
    api: true,
    flags,
    async run(values, positionals, ctx) {
      const [service] = positionals;
      if (!service || positionals.length > 1) throw badUsage(usage);
      const started = performance.now();
      const body: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(values)) if (k !== 'json' && k !== 'config' && v !== undefined) body[k] = v;
      const r = await api<ReleaseStatus>('POST', `/services/${encodeURIComponent(service)}/${action}`, body);
      if (values.json) ctx.stdout.write(`${JSON.stringify(r)}\n`);
      else ctx.stdout.write(`${service}: ${done(r, values)} (${(performance.now() - started).toFixed(0)} ms)\n`);
      return 0;
    },
  });
}
