// What `cutover promote|rollback|abort <service>` share: one POST, one line (or --json) back.
import { parseArgs } from 'node:util';
import { usageError } from '../errors.ts';
import type { ReleaseStatus } from '../controller/service.ts';
import { api } from './client.ts';
import type { Command } from './main.ts';

export function releaseAction(action: 'promote' | 'rollback' | 'abort', done: (r: ReleaseStatus) => string): Command {
  return async (ctx) => {
    const { values, positionals } = parseArgs({
      args: ctx.argv,
      allowPositionals: true,
      options: { json: { type: 'boolean' }, reason: { type: 'string' } },
    });
    const [service] = positionals;
    if (!service || positionals.length > 1)
      throw usageError(`usage: cutover ${action} <service>${action === 'promote' ? '' : ' [--reason TEXT]'} [--json]`);
    const started = performance.now();
    const body = values.reason !== undefined && action !== 'promote' ? { reason: values.reason } : {};
    const r = await api<ReleaseStatus>('POST', `/services/${encodeURIComponent(service)}/${action}`, body);
    if (values.json) ctx.stdout.write(`${JSON.stringify(r)}\n`);
    else ctx.stdout.write(`${service}: ${done(r)} (${(performance.now() - started).toFixed(0)} ms)\n`);
    return 0;
  };
}
