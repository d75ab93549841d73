// Shared pieces of the CLI's command files: flag parsing that fails as a usage error (exit 2), and
// running in the foreground until SIGINT/SIGTERM.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { usageError } from '../errors.ts';
import type { Logger } from '../log.ts';

/** `parseArgs` with positionals allowed and strict flags; a bad flag is a usage error naming `usage`. */
export function parseFlags<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, usage: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    // An unknown flag goes up as it is: main.ts answers it with "did you mean" from the command's help.
    if ((err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw err;
    throw usageError(`${(err as Error).message}; ${usage}`);
  }
}

/** Resolves once SIGINT or SIGTERM arrived and `close` finished (a failed close is logged). */
export function runUntilSignal(log: Logger, close: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolveStop) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info('stopping', { signal });
      close().then(resolveStop, (err) => {
        log.error('stop failed', { err });
        resolveStop();
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
