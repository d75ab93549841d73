// `cutover logs <service> [--slot blue|green] [-n N] [-c FILE]`: the last lines the service's replicas
// wrote, read from the log files under the config's stateDir (works with the daemon up or down).
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { loadConfig } from '../config/load.ts';
import { usageError } from '../errors.ts';
import { tailServiceLogs } from '../providers/logs.ts';
import type { Command } from './main.ts';

export const run: Command = async (ctx) => {
  const { values, positionals } = parseArgs({
    args: ctx.argv,
    allowPositionals: true,
    options: {
      slot: { type: 'string' },
      lines: { type: 'string', short: 'n', default: '100' },
      config: { type: 'string', short: 'c', default: 'cutover.yaml' },
    },
  });
  const [service] = positionals;
  const lines = Number(values.lines);
  const slot = values.slot;
  if (
    !service ||
    positionals.length > 1 ||
    (slot !== undefined && slot !== 'blue' && slot !== 'green') ||
    !Number.isInteger(lines) ||
    lines < 1
  ) {
    throw usageError('usage: cutover logs <service> [--slot blue|green] [-n LINES] [-c FILE]');
  }
  const config = await loadConfig(resolve(values.config));
  if (!config.services[service])
    throw usageError(`no service "${service}" in ${config.file}; services: ${Object.keys(config.services).join(', ')}`);
  const out = await tailServiceLogs(config.stateDir, service, { lines, ...(slot ? { slot } : {}) });
  ctx.stdout.write(out.length === 0 ? `${service}: no log lines yet under ${config.stateDir}\n` : `${out.join('\n')}\n`);
  return 0;
};
