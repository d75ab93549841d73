// `cutover validate -c FILE`: checks a config file without starting anything. Exit 0 when valid,
// 2 with one line per problem (printed by main.ts) when not.
import { loadConfig } from '../config/load.ts';
import { ConfigError, CutoverError, usageError } from '../errors.ts';
import { parseFlags } from './args.ts';
import { helpText } from './command.ts';
import type { Command } from './main.ts';

const USAGE = 'usage: cutover validate [-c FILE] [--json]   (FILE defaults to cutover.yaml in this folder)';

export const help = helpText(
  'validate [-c FILE | FILE] [--json]',
  'Check a config file without starting anything: exit 0 when it is valid, 2 with one line per problem when not.',
  {
    config: { type: 'string', short: 'c', value: 'FILE', default: 'cutover.yaml', help: 'the config to check' },
    json: { type: 'boolean', help: 'print {ok, file, services} or {ok: false, problems} as JSON on stdout' },
    help: { type: 'boolean', short: 'h', help: 'show this help' },
  },
);

export const run: Command = async ({ argv, stdout }) => {
  const { values, positionals } = parseFlags(
    argv,
    { config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    USAGE,
  );
  if (values.help) {
    stdout.write(`${USAGE}\n`);
    return 0;
  }
  // `cutover validate FILE` is accepted too: it is what people type first.
  if (positionals.length > 1 || (positionals.length === 1 && values.config !== undefined)) {
    throw usageError(`validate takes one config file; ${USAGE}`);
  }
  const file = values.config ?? positionals[0] ?? 'cutover.yaml';

  if (!values.json) {
    const config = await loadConfig(file);
    const names = Object.keys(config.services);
    stdout.write(`${file}: ok (${names.length} service${names.length === 1 ? '' : 's'}: ${names.join(', ')})\n`);
    return 0;
  }
  try {
    const config = await loadConfig(file);
    stdout.write(`${JSON.stringify({ ok: true, file, services: Object.keys(config.services) })}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      stdout.write(`${JSON.stringify({ ok: false, file, code: err.code, problems: err.problems })}\n`);
      return 2;
    }
    if (err instanceof CutoverError && err.code === 'CUTOVER_E_CONFIG_NOT_FOUND') {
      stdout.write(`${JSON.stringify({ ok: false, file, code: err.code, problems: [{ path: '(file)', message: err.message }] })}\n`);
      return 2;
    }
    throw err;
  }
};
