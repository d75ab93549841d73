// `cutover promote <service> [--full] [--json]`: approves a release that waits for manual approval;
// during a progressive shift ends the current step now (--full: all traffic to the new version now);
// while observing, promotes now.
import { parseArgs } from 'node:util';
import { usageError } from '../errors.ts';
import type { ReleaseStatus } from '../controller/service.ts';
import { api } from './client.ts';
import type { Command } from './main.ts';

export const run: Command = async (ctx) => {
  const { values, positionals } = parseArgs({
    args: ctx.argv,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, full: { type: 'boolean' } },
  });
  const [service] = positionals;
  if (!service || positionals.length > 1) throw usageError('usage: cutover promote <service> [--full] [--json]');
  const started = performance.now();
  const r = await api<ReleaseStatus>('POST', `/services/${encodeURIComponent(service)}/promote`, values.full ? { full: true } : {});
  if (values.json) ctx.stdout.write(`${JSON.stringify(r)}\n`);
  else {
    const full = values.full ? '; all traffic moves to the new version now' : '';
    ctx.stdout.write(
      `${service}: release ${r.id} of version ${r.version} promoted; it is ${r.phase}${full} (${(performance.now() - started).toFixed(0)} ms)\n`,
    );
  }
  return 0;
};
