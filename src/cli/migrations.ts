// `cutover migrations lint -c FILE [--service NAME] [--json]`: lints every service's expand SQL
// (migrations.lint) without starting anything. One line per finding, `file:line: rule: message`;
// exit 2 when any would break the live version, 0 when there are only warnings or nothing.
// `cutover migrations contract <service> [--json]` asks the running daemon to run the contract
// migration now (only once the latest release is retired: no old code left).
import path from 'node:path';
import { loadConfig } from '../config/load.ts';
import { usageError } from '../errors.ts';
import { lintFiles, type FilesLintResult } from '../migrations/lint.ts';
import { api, useConfig } from './client.ts';
import { parseFlags } from './args.ts';
import { helpText } from './command.ts';
import type { Command } from './main.ts';

const USAGE =
  'usage: cutover migrations lint [-c FILE] [--service NAME] [--json]   (FILE defaults to cutover.yaml in this folder)\n' +
  '       cutover migrations contract <service> [--json]                 (asks the running daemon)';

export const help = `${helpText(
  'migrations lint [-c FILE] [--service NAME] [--json] | migrations contract <service> [--json]',
  "lint: check every service's expand SQL (migrations.lint) for statements that would break the live version (exit 2).\n" +
    'contract: ask the running daemon to run the contract migration now (only once the old slot is retired).',
  {
    config: { type: 'string', short: 'c', value: 'FILE', default: 'cutover.yaml', help: "lint: the config; contract: the daemon's config" },
    service: { type: 'string', short: 's', value: 'NAME', help: 'lint: only this service' },
    json: { type: 'boolean', help: "print the findings (or the migration's result) as JSON" },
    help: { type: 'boolean', short: 'h', help: 'show this help' },
  },
)}`;

export const run: Command = async ({ argv, stdout, stderr }) => {
  const [sub, ...rest] = argv;
  if (sub === 'contract') {
    const { values, positionals } = parseFlags(rest, { json: { type: 'boolean' }, config: { type: 'string', short: 'c' } }, USAGE);
    useConfig(values.config);
    const [service] = positionals;
    if (!service || positionals.length > 1) throw usageError(USAGE);
    const r = await api<{ ok: boolean; exitCode: number | null; durationMs: number; output: string }>(
      'POST',
      `/services/${encodeURIComponent(service)}/migrations/contract`,
      {},
    );
    if (values.json) stdout.write(`${JSON.stringify(r)}\n`);
    else
      stdout.write(`${service}: the contract migration ${r.ok ? 'ran' : `failed (exit ${r.exitCode})`} in ${r.durationMs} ms\n${r.output}`);
    return r.ok ? 0 : 1;
  }
  if (sub === '--help' || sub === '-h') {
    stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (sub !== 'lint') throw usageError(`migrations takes lint or contract${sub ? `, not "${sub}"` : ''}; ${USAGE}`);

  const { values, positionals } = parseFlags(
    rest,
    {
      config: { type: 'string', short: 'c' },
      service: { type: 'string', short: 's' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    USAGE,
  );
  if (values.help) {
    stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length > 0) throw usageError(`unexpected ${positionals.join(' ')}; ${USAGE}`);

  const config = await loadConfig(values.config ?? 'cutover.yaml');
  const names = values.service !== undefined ? [values.service] : Object.keys(config.services);
  if (values.service !== undefined && !config.services[values.service]) {
    throw usageError(`${config.file} has no service "${values.service}" (services: ${Object.keys(config.services).join(', ')})`);
  }

  const results: Record<string, FilesLintResult & { pattern: string }> = {};
  for (const name of names) {
    const pattern = config.services[name]?.migrations?.lint;
    if (pattern === undefined) continue;
    // The pattern is absolute (the config resolves it against its folder); name files from here.
    results[name] = { pattern, ...(await lintFiles(pattern, process.cwd())) };
  }

  const all = Object.values(results);
  const errors = all.reduce((n, r) => n + r.findings.filter((f) => f.severity === 'error').length, 0);
  if (values.json) {
    stdout.write(`${JSON.stringify({ ok: errors === 0, file: config.file, services: results })}\n`);
    return errors > 0 ? 2 : 0;
  }
  if (all.length === 0) {
    stdout.write(`${config.file}: no service has migrations.lint; nothing to lint\n`);
    return 0;
  }
  for (const [name, r] of Object.entries(results)) {
    if (r.files.length === 0)
      stderr.write(`cutover: ${name}: no file matches ${path.relative(process.cwd(), r.pattern) || r.pattern}; check migrations.lint\n`);
    for (const f of r.findings) stdout.write(`${f.file}:${f.line}: ${f.rule}: ${f.message}\n`);
    for (const a of r.allowed) stdout.write(`${a.file}:${a.line}: ${a.rule}: allowed: ${a.reason}\n`);
  }
  const warnings = all.reduce((n, r) => n + r.findings.length, 0) - errors;
  const allowed = all.reduce((n, r) => n + r.allowed.length, 0);
  const files = all.reduce((n, r) => n + r.files.length, 0);
  const summary = `${files} file${files === 1 ? '' : 's'}: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}, ${allowed} allowed`;
  if (errors > 0) {
    stderr.write(
      `cutover: ${summary}; these statements would break the live version while both versions run: move them to the contract migration, or let one through with \`-- cutover:allow <rule> <reason>\` on the line before it\n`,
    );
    return 2;
  }
  stdout.write(`${summary}\n`);
  return 0;
};
