// `cutover up -c FILE`: router, controller and API in the foreground until SIGINT/SIGTERM (or `cutover down`).
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { loadConfig } from '../config/load.ts';
import { startDataPlane } from '../daemon/data-plane.ts';
import { createLogger, type Logger } from '../log.ts';
import { holdPoint } from './hold-points.ts';
import { runUntilSignal } from './args.ts';
import { helpText } from './command.ts';
import type { Command } from './main.ts';

export const help = helpText(
  'up [-c FILE]',
  'Run the router, controller, API and dashboard in the foreground until SIGINT/SIGTERM (Ctrl-C drains and stops); SIGHUP restarts in place.',
  {
    config: { type: 'string', short: 'c', value: 'FILE', default: 'cutover.yaml', help: 'the config to run' },
    help: { type: 'boolean', short: 'h', help: 'show this help' },
  },
);

export const run: Command = async (ctx) => {
  const { values } = parseArgs({
    args: ctx.argv,
    options: { config: { type: 'string', short: 'c', default: 'cutover.yaml' } },
    strict: true,
  });
  // A SIGHUP while this process still starts (a second `systemctl reload` right after a first, whose
  // new controller is loading) would end it (the default action): it is kept and honoured once up.
  let hupWhileStarting = false;
  let log: Logger | null = null;
  const early = (): void => {
    hupWhileStarting = true;
    log?.info('SIGHUP while starting: kept, the restart follows once up', { pid: process.pid });
  };
  process.on('SIGHUP', early);
  const file = resolve(values.config);
  // The whole config is validated before anything listens or starts.
  const config = await loadConfig(file);
  log = createLogger();
  // The routers start while the rest of the controller loads (its module graph is most of a start).
  const supervisor = config.store.kind === 'etcd' ? undefined : startDataPlane(config, log);
  supervisor?.catch(() => {});
  await holdPoint('up:starting', log);
  const { Daemon } = await import('../daemon/daemon.ts');
  const daemon = new Daemon(config, log, supervisor === undefined ? {} : { supervisor });
  await daemon.start();
  const lines = [`cutover is up (pid ${process.pid})`, `  API and dashboard: http://${daemon.apiAddress}/`];
  for (const s of daemon.services())
    lines.push(
      s.traffic.status().kind === 'router'
        ? `  service ${s.cfg.name}: http://${s.listenAddress()}/  (live: ${s.routeState().live ?? 'none yet'})`
        : `  service ${s.cfg.name}: through ${s.traffic.status().kind}, preview at http://${s.listenAddress()}/  (live: ${s.routeState().live ?? 'none yet'})`,
    );
  if (daemon.adminTokenFile) lines.push(`  admin token: ${daemon.adminTokenFile}`);
  ctx.stdout.write(`${lines.join('\n')}\n`);

  // SIGHUP (systemctl reload): the same process starts again from the code and config on disk (the
  // pid an operator or systemd knows stays); the supervisor keeps the routers serving meanwhile.
  daemon.onRestart = () => {
    if (process.execve === undefined) process.exit(0); // no execve on this platform: the service manager starts it again
    process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], process.env);
  };
  process.on('SIGHUP', () => void daemon.restart().catch(() => {}));
  process.off('SIGHUP', early);
  if (hupWhileStarting) void daemon.restart().catch(() => {});
  // `cutover down`: the very stop SIGTERM makes.
  daemon.onShutdown = () => process.kill(process.pid, 'SIGTERM');

  // In-flight requests get a few seconds; long-lived connections are closed.
  await runUntilSignal(log, () => daemon.close(5000));
  return 0;
};
