// One way to declare a CLI command: its usage line, a sentence on what it does and every flag with
// what it means. From that come the command's `--help`, strict flag parsing (node:util parseArgs)
// with "did you mean" for a mistyped flag, and `-c FILE` choosing the daemon the command talks to.
import { parseArgs } from 'node:util';
import { closest } from '../config/suggest.ts';
import { usageError } from '../errors.ts';
import { useConfig } from './client.ts';
import type { Command, CommandContext } from './main.ts';

export interface Flag {
  type: 'boolean' | 'string';
  short?: string;
  default?: string;
  /** The value's placeholder in the help (`FILE`, `N`); string flags only. */
  value?: string;
  /** What the flag does, for the help. */
  help: string;
}

export type Flags = Record<string, Flag>;

type Values<F extends Flags> = { [K in keyof F]: F[K]['type'] extends 'boolean' ? boolean | undefined : string | undefined };

export interface Spec<F extends Flags> {
  /** `deploy <service> <version>`: the command and its positionals. */
  usage: string;
  /** One or two sentences on what the command does (and its exit codes when they matter). */
  summary: string;
  flags: F;
  /** Add `-c/--config FILE`: the config whose api.listen and stateDir (token) tell the CLI which daemon to talk to. */
  api?: boolean;
  run(values: Values<F>, positionals: string[], ctx: CommandContext): Promise<number>;
}

/** What main.ts loads for each command: `run`, and `help` for `cutover <command> --help`. */
export interface CommandModule {
  run: Command;
  help?: string;
}

const HELP_FLAG: Flag = { type: 'boolean', short: 'h', help: 'show this help' };
const CONFIG_FLAG: Flag = {
  type: 'string',
  short: 'c',
  value: 'FILE',
  help: "the daemon's config: the CLI asks its api.listen, with the admin token in its stateDir (default ./cutover.yaml)",
};

/** The help text of a command from its usage, summary and flags. */
export function helpText(usage: string, summary: string, flags: Flags): string {
  const rows = Object.entries(flags).map(([name, f]) => {
    const short = f.short ? `-${f.short}, ` : '    ';
    const value = f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : '';
    const def = f.default !== undefined ? ` (default ${f.default})` : '';
    return [`  ${short}--${name}${value}`, `${f.help}${def}`] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  const lines = rows.map(([left, right]) => `${left.padEnd(width)}${right}`);
  return `usage: cutover ${usage}\n\n${summary}\n\noptions:\n${lines.join('\n')}\n`;
}

/** Flag names (`--wait`, `-c`) that appear in a help text: the candidates for "did you mean". */
export function flagsIn(help: string): string[] {
  return [...new Set(help.match(/--[a-z][a-z-]*/g) ?? [])];
}

/** A usage error for an unknown flag, with the closest known one when it looks like a typo. */
export function unknownFlag(flag: string, known: string[], command: string, help = ''): Error {
  const guess = flag.startsWith('--')
    ? closest(
        flag.slice(2),
        known.map((k) => k.replace(/^--/, '')),
      )
    : undefined;
  const hint = guess !== undefined ? `; did you mean --${guess}?` : '';
  const usage = help.startsWith('usage: ') ? `; ${help.split('\n')[0]}` : '';
  return usageError(`unknown flag ${flag} for \`cutover ${command}\`${hint}${usage} (run \`cutover ${command} --help\`)`);
}

export function defineCommand<F extends Flags>(spec: Spec<F>): CommandModule {
  const flags: Flags = { ...spec.flags, ...(spec.api ? { config: CONFIG_FLAG } : {}), help: HELP_FLAG };
  const help = helpText(spec.usage, spec.summary, flags);
  const name = spec.usage.split(' ')[0] ?? '';
  const options = Object.fromEntries(
    Object.entries(flags).map(([k, f]) => [
      k,
      { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.default !== undefined ? { default: f.default } : {}) },
    ]),
  );
  const run: Command = async (ctx) => {
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({ args: ctx.argv, options, allowPositionals: true, strict: true });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const unknown = /Unknown option '([^']+)'/.exec(e.message)?.[1];
      if (unknown !== undefined) throw unknownFlag(unknown, Object.keys(flags), name, help);
      throw usageError(`${e.message.replace(/\.$/, '')}; run \`cutover ${name} --help\``);
    }
    if (parsed.values.help) {
      ctx.stdout.write(help);
      return 0;
    }
    if (spec.api) useConfig(parsed.values.config as string | undefined);
    return spec.run(parsed.values as Values<F>, parsed.positionals, ctx);
  };
  return { run, help };
}

/** The usage error a command throws when its positionals are wrong. */
export function badUsage(usage: string): Error {
  const name = usage.split(' ')[0] ?? '';
  return usageError(`usage: cutover ${usage} (run \`cutover ${name} --help\`)`);
}
