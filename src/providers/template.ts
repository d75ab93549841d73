// What one replica is launched with: `{version}` replaced in the command, cwd and env values, and the
// variables every replica gets (PORT, CUTOVER_SLOT, CUTOVER_VERSION, CUTOVER_SERVICE).
import type { ProcessProvider, SlotName } from '../config/types.ts';
import { childEnv } from '../secrets.ts';

export interface LaunchSpec {
  file: string;
  args: string[];
  cwd: string | undefined;
  env: Record<string, string>;
}

export interface LaunchContext {
  service: string;
  slot: SlotName;
  version: string;
  port: number;
  /** The daemon's environment; replicas inherit it, minus what only the daemon may see. */
  baseEnv: NodeJS.ProcessEnv;
}

/** Variables of cutover's own launcher (bin/cutover.js): nothing to an application. */
const LAUNCHER_ENV = ['CUTOVER_USER_NODE_OPTIONS', 'CUTOVER_REEXEC'];

export function substitute(value: string, version: string): string {
  return value.replaceAll('{version}', version);
}

export function launchSpec(config: ProcessProvider, ctx: LaunchContext): LaunchSpec {
  const [file, ...args] = config.command.map((part) => substitute(part, ctx.version));
  if (file === undefined || file === '') throw new Error('provider.command is empty; name the program to run');
  // The daemon's secrets (src/secrets.ts) do not leak into the applications it runs.
  const env = childEnv(ctx.baseEnv) as Record<string, string>;
  for (const k of LAUNCHER_ENV) delete env[k];
  // An installed cutover runs with a NODE_OPTIONS of its own (bin/cutover.js): the apps get the user's.
  const userNodeOptions = ctx.baseEnv.CUTOVER_USER_NODE_OPTIONS;
  if (userNodeOptions === '') delete env.NODE_OPTIONS;
  else if (userNodeOptions !== undefined) env.NODE_OPTIONS = userNodeOptions;
  for (const [k, v] of Object.entries(config.env)) env[k] = substitute(v, ctx.version);
  env.PORT = String(ctx.port);
  env.CUTOVER_SLOT = ctx.slot;
  env.CUTOVER_VERSION = ctx.version;
  env.CUTOVER_SERVICE = ctx.service;
  return { file, args, cwd: config.cwd === undefined ? undefined : substitute(config.cwd, ctx.version), env };
}
