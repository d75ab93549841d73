// Entry point of the `cutover` command: picks the command file and maps errors to exit codes.
// Exit codes: 0 done; 1 the release ended failed, aborted or rolled back (or an unexpected error);
// 2 bad usage or config; 3 the API refused (auth, not found, conflict, bad request); 4 the API is
// unreachable; 130 interrupted (Ctrl-C). With --json anywhere on the line, an error is printed as
// {"error":{"code","message"}} on stdout instead of a line on stderr.
// A new command is one file exporting `run` (and `help`; `defineCommand` in command.ts gives both)
// and one line in `commands` below; `--help`, exit codes and --json errors then apply to it as well.
import { readFileSync } from 'node:fs';
import { closest } from '../config/suggest.ts';
import { ConfigError, CutoverError } from '../errors.ts';
import { ApiError } from './client.ts';
import { flagsIn, type CommandModule, unknownFlag } from './command.ts';
import { EXIT } from './exit.ts';

export interface CommandContext {
  argv: string[];
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** A command returns its exit code. */
export type Command = (ctx: CommandContext) => Promise<number>;

export { EXIT };

const commands: Record<string, () => Promise<CommandModule>> = {
  up: () => import('./up.ts'),
  router: () => import('./router.ts'),
  validate: () => import('./validate.ts'),
  switch: () => import('./switch.ts'),
  status: () => import('./status.ts'),
  deploy: () => import('./deploy.ts'),
  drill: () => import('./drill.ts'),
  promote: () => import('./promote.ts'),
  rollback: () => import('./rollback.ts'),
  abort: () => import('./abort.ts'),
  history: () => import('./history.ts'),
  parity: () => import('./parity.ts'),
  logs: () => import('./logs.ts'),
  migrations: () => import('./migrations.ts'),
  demo: () => import('./demo.ts'),
  token: () => import('./token.ts'),
  pause: () => import('./pause.ts'),
  resume: () => import('./resume.ts'),
  maintenance: () => import('./maintenance.ts'),
  restart: () => import('./restart.ts'),
  down: () => import('./down.ts'),
};

const usage = `usage: cutover <command> [options]        (cutover <command> --help for its options)

commands:
  up -c FILE                     run the router, controller, API and dashboard (foreground)
  router -c FILE [--id ID] [--status HOST:PORT]
                                 a router only (an edge machine of a fleet): serves FILE's services
                                 with the route tables in FILE's etcd store, and says which it serves
  validate -c FILE               check a config file; exit 2 with one line per problem
  switch <service> <blue|green> [--force]
                                 move all traffic of a service to a slot (operator's escape hatch)
  status [service] [--json]      show live slot, generation and target health
  deploy <service> <version> [--wait] [--json]
                                 start a release of a version; --wait follows it to its end
  drill <service> --errors 30% | --latency 2s [--wait]
                                 a rollback drill: the new slot's answers fail or wait on purpose, and
                                 analysis must roll it back within 1 s; recorded in history
  promote <service> [--full]     approve a release that waits; during a shift, the next step (--full: 100%)
  rollback <service> [--to VERSION]
                                 back to the standby slot at once; --to an older version: a release of it
  abort <service>                end a release before traffic moves; live is not touched
  pause <service> [--timeout D]  hold new requests (each up to D, then 503) until resume
  resume <service>               release the held requests in order
  maintenance <service> on|off [--message TEXT]
                                 every user request gets the maintenance page (503, Retry-After)
  history <service> [--json]     the service's releases, newest first
  parity <service> [--json]      what differs between the slots besides the version (exit 1 if anything)
  logs <service> [--slot blue|green] [-n N] [--follow]
                                 the last lines the service's replicas wrote
  migrations lint -c FILE        check expand SQL for what would break the live version (exit 2)
  migrations contract <service>  run the contract migration now (only once the old slot is retired)
  demo                           a guided tour: deploy, roll back and a failed release under a steady load
  token create --role viewer|deployer|admin [--name N]
                                 make an API token; its secret is printed once
  token list | token revoke <id|name>
                                 the API tokens (never their secrets); revoke one at once
  restart                        restart the controller in place from code and config on disk (as SIGHUP);
                                 routers and replicas serve throughout
  down                           stop on purpose (as SIGTERM): drain, stop routers and replicas, close ports

options of every command talking to the daemon:
  -c, --config FILE              the daemon's config (its api.listen and stateDir); default ./cutover.yaml
  --json                         machine-readable output, errors as {"error":{"code","message"}} on stdout
  -h, --help                     the command's options

exit codes: 0 done, 1 the release ended failed, aborted or rolled back, 2 bad usage or config,
            3 the API refused (auth, not found, conflict), 4 the API is unreachable

environment: CUTOVER_API (default: api.listen of the config, else http://127.0.0.1:9900), CUTOVER_TOKEN
`;

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `cutover ${pkg.version} (node ${process.version})`;
}

/** `--help`/`-h` before a `--`: every command answers it, whatever its own parsing does. */
function asksForHelp(argv: string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

export async function main(argv: string[], io: { stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream } = process): Promise<number> {
  const [name, ...rest] = argv;
  const json = argv.includes('--json');
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage);
    return name ? EXIT.done : EXIT.usage;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    io.stdout.write(`${version()}\n`);
    return EXIT.done;
  }
  const load = commands[name];
  if (!load) {
    const guess = closest(name, Object.keys(commands));
    const hint = guess !== undefined ? `; did you mean \`cutover ${guess}\`?` : '';
    return reportError(
      new CutoverError('CUTOVER_E_USAGE', `unknown command "${name}"${hint} (run \`cutover --help\` for the list)`, 400),
      json,
      io,
    );
  }
  let mod: CommandModule | undefined;
  try {
    mod = await load();
    if (asksForHelp(rest)) {
      io.stdout.write(mod.help ?? usage);
      return EXIT.done;
    }
    return await mod.run({ argv: rest, stdout: io.stdout, stderr: io.stderr });
  } catch (err) {
    // A command parsing its flags with parseArgs directly still gets "did you mean" from its help.
    const e = err as NodeJS.ErrnoException;
    if (e?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const flag = /'([^']+)'/.exec(e.message)?.[1] ?? '';
      return reportError(unknownFlag(flag, flagsIn(mod?.help ?? ''), name, mod?.help), json, io);
    }
    return reportError(err, json, io);
  }
}

/** The exit code of an error: 2 usage/config, 3 the API said no, 4 no API, 1 anything else. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof ApiError) return EXIT.refused;
  if (err instanceof CutoverError) {
    if (err.code === 'CUTOVER_E_API_UNREACHABLE') return EXIT.unreachable;
    if (err.code === 'CUTOVER_E_USAGE' || err.code === 'CUTOVER_E_CONFIG_NOT_FOUND' || err.code === 'CUTOVER_E_CONFIG_INVALID')
      return EXIT.usage;
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) return EXIT.usage;
  return EXIT.releaseEnded;
}

export function reportError(err: unknown, json = false, io: { stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream } = process): number {
  const exit = exitCodeOf(err);
  const coded = err instanceof CutoverError;
  const code = coded ? err.code : exit === EXIT.usage ? 'CUTOVER_E_USAGE' : 'CUTOVER_E_INTERNAL';
  const message = err instanceof Error ? (coded || exit === EXIT.usage ? err.message : (err.stack ?? err.message)) : String(err);
  if (json) {
    const extra = err instanceof ConfigError ? { file: err.file, problems: err.problems } : err instanceof ApiError ? { url: err.url } : {};
    io.stdout.write(`${JSON.stringify({ error: { code, message, ...extra } })}\n`);
    return exit;
  }
  if (err instanceof ConfigError) for (const p of err.problems) io.stderr.write(`${err.file}: ${p.path}: ${p.message}\n`);
  io.stderr.write(`cutover: ${code}: ${message}\n`);
  return exit;
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
