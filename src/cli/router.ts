// `cutover router -c FILE [--id ID] [--status HOST:PORT]`: a router-only process for an edge machine.
// It serves the services of FILE on their `listen` addresses with the route tables a controller
// records in etcd (FILE's `store`), and never writes a release, an event or a route table.
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.ts';
import { CutoverError } from '../errors.ts';
import { FleetRouter, REQUEST_TIMEOUT_MS } from '../fleet/router-node.ts';
import { serveRouterStatus } from '../fleet/router-status.ts';
import { createLogger } from '../log.ts';
import { EtcdFleetLink } from '../store/etcd-fleet.ts';
import { runUntilSignal } from './args.ts';
import { helpText } from './command.ts';
import type { Command } from './main.ts';

export const help = helpText(
  'router [-c FILE] [--id ID] [--status HOST:PORT]',
  "A router only, for an edge machine of a fleet: serves FILE's services with the route tables a controller records in\nFILE's etcd store, and never writes any.",
  {
    config: { type: 'string', short: 'c', value: 'FILE', default: 'cutover.yaml', help: 'the config (its store must be etcd)' },
    id: { type: 'string', value: 'ID', help: "this router's name in the fleet (default: the host name and the first listener)" },
    status: { type: 'string', value: 'HOST:PORT', help: 'serve /status (the generations this router serves) on this address' },
    help: { type: 'boolean', short: 'h', help: 'show this help' },
  },
);

export const run: Command = async (ctx) => {
  const { values } = parseArgs({
    args: ctx.argv,
    options: {
      config: { type: 'string', short: 'c', default: 'cutover.yaml' },
      id: { type: 'string' },
      status: { type: 'string' },
    },
    strict: true,
  });
  const file = resolve(values.config);
  const config = await loadConfig(file);
  if (config.store.kind !== 'etcd') {
    throw new CutoverError(
      'CUTOVER_E_USAGE',
      `${file} has no etcd store; add store: etcd://host:2379,host:2379[/prefix] to run a fleet router`,
      400,
    );
  }
  const log = createLogger();
  // Default id: the machine and the first listener, so a restarted router takes its place again.
  const first = Object.values(config.services)[0]?.listen ?? '';
  const id = values.id ?? `${hostname()}/${first}`;
  // Its own connection to etcd, for the route states and its record only: it never opens the store.
  const link = EtcdFleetLink.open(config.store.endpoints, config.store.prefix, REQUEST_TIMEOUT_MS);
  let router: FleetRouter;
  try {
    router = await FleetRouter.start({ id, config, log, link });
  } catch (err) {
    link.close();
    throw err;
  }
  const status = values.status === undefined ? null : await serveRouterStatus(router, values.status);
  const lines = [
    `cutover router ${id} is up (pid ${process.pid}), route tables from ${config.store.endpoints.join(',')}${config.store.prefix}`,
  ];
  for (const [name, s] of Object.entries(router.status().services))
    lines.push(`  service ${name}: http://${s.listen}/  (generation ${s.generation})`);
  if (status !== null) lines.push(`  status: http://${values.status?.replace(/:\d+$/, '')}:${status.port}/status`);
  ctx.stdout.write(`${lines.join('\n')}\n`);

  await runUntilSignal(log, async () => {
    status?.server.close();
    await router.close(5000);
    link.close();
  });
  return 0;
};
