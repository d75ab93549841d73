// Entry point of the `cutover` command: picks the command file and maps errors to exit codes
// (0 done, 1 the release ended badly, 2 bad usage or config).
import { CutoverError, ConfigError } from '../errors.ts';

export interface CommandContext {
  argv: string[];
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** A command returns its exit code. */
export type Command = (ctx: CommandContext) => Promise<number>;

const commands: Record<string, () => Promise<{ run: Command }>> = {
  up: () => import('./up.ts'),
  router: () => import('./router.ts'),
  validate: () => import('./validate.ts'),
  switch: () => import('./switch.ts'),
  status: () => import('./status.ts'),
  deploy: () => import('./deploy.ts'),
  promote: () => import('./promote.ts'),
  rollback: () => import('./rollback.ts'),
  abort: () => import('./abort.ts'),
  history: () => import('./history.ts'),
  logs: () => import('./logs.ts'),
  migrations: () => import('./migrations.ts'),
  demo: () => import('./demo.ts'),
  token: () => import('./token.ts'),
};

const usage = `usage: cutover <command> [options]

commands:
  up -c FILE                     run the router, controller, API and dashboard (foreground)
  router -c FILE [--id ID] [--status HOST:PORT]
                                 a router only (an edge machine of a fleet): serves FILE's services
                                 with the route tables in FILE's etcd store, and says which it serves
  validate -c FILE               check a config file; exit 2 with one line per problem
  switch <service> <blue|green>  move all traffic of a service to a slot (operator's escape hatch)
  status [service] [--json]      show live slot, generation and target health
  deploy <service> <version> [--wait] [--json]
                                 start a release of a version; --wait follows it to its end
                                 (exit 0 promoted, 1 failed, aborted or rolled back)
  promote <service> [--full]     approve a release that waits; during a shift, the next step (--full: 100%)
  rollback <service>             put traffic back on the standby slot at once
  abort <service>                end a release before traffic moves; live is not touched
  history <service> [--json]     the service's releases, newest first
  logs <service> [--slot blue|green] [-n N] [-c FILE]
                                 the last lines the service's replicas wrote
  migrations lint -c FILE        check expand SQL for what would break the live version (exit 2)
  migrations contract <service> run the contract migration now (only once the old slot is retired)
  demo                           a guided tour: deploy, roll back and a failed release under a steady load
  token create --role viewer|deployer|admin [--name N]
                                 make an API token; its secret is printed once
  token list | token revoke <id|name>
                                 the API tokens (never their secrets); revoke one at once

environment: CUTOVER_API (default http://127.0.0.1:9900), CUTOVER_TOKEN
`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage);
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`cutover: unknown command "${name}"; run \`cutover --help\` for the list\n`);
    return 2;
  }
  try {
    const mod = await load();
    return await mod.run({ argv: rest, stdout: process.stdout, stderr: process.stderr });
  } catch (err) {
    return reportError(err);
  }
}

export function reportError(err: unknown): number {
  if (err instanceof ConfigError) {
    for (const p of err.problems) process.stderr.write(`${err.file}: ${p.path}: ${p.message}\n`);
    process.stderr.write(`cutover: ${err.code}: ${err.message}\n`);
    return 2;
  }
  if (err instanceof CutoverError) {
    process.stderr.write(`cutover: ${err.code}: ${err.message}\n`);
    return err.code === 'CUTOVER_E_USAGE' || err.code === 'CUTOVER_E_CONFIG_NOT_FOUND' ? 2 : 1;
  }
  if (err && typeof err === 'object' && 'code' in err && (err as { code: unknown }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    process.stderr.write(`cutover: CUTOVER_E_USAGE: ${(err as unknown as Error).message}; run \`cutover --help\`\n`);
    return 2;
  }
  process.stderr.write(`cutover: CUTOVER_E_INTERNAL: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
