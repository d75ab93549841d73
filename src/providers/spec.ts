// What a process slot runs besides its version, for the parity report: the command, variable names,
// replica count and a hash of its provider config as they were when the slot was provisioned, and
// what is running now (replicas up; the variable names the process really has, from /proc on Linux);
// for a Deployment slot, the same from what was applied.
// Values never leave here: a changed value shows only as another configHash.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { KubernetesProvider, ProcessProvider } from '../config/types.ts';
import type { ReplicaStatus, SlotSpec } from './types.ts';

/** The variables cutover gives every replica, besides provider.env. */
const SET_BY_CUTOVER = ['CUTOVER_SERVICE', 'CUTOVER_SLOT', 'CUTOVER_VERSION', 'PORT'];

export type ProvisionedSpec = Omit<SlotSpec, 'view'>;

/** The spec of a slot provisioned now with `config` (the template, before `{version}` is replaced). */
export function provisionedSpec(config: ProcessProvider): ProvisionedSpec {
  const hashed = JSON.stringify({
    command: config.command,
    cwd: config.cwd,
    env: config.env,
    replicas: config.replicas,
    stopGrace: config.stopGrace,
  });
  return {
    command: [...config.command],
    envNames: [...new Set([...Object.keys(config.env), ...SET_BY_CUTOVER])].sort(),
    replicas: config.replicas,
    configHash: createHash('sha256').update(hashed).digest('hex').slice(0, 12),
  };
}

/**
 * A Deployment slot: its image (with `{version}` left in) stands for the command; the provider's view
 * is the ready pods it saw when it provisioned the slot (parity makes no extra call to the cluster).
 */
export function kubernetesSpec(config: KubernetesProvider, readyPods: number): SlotSpec {
  const hashed = JSON.stringify({
    image: config.image,
    port: config.port,
    env: config.env,
    replicas: config.replicas,
    namespace: config.namespace,
  });
  return {
    command: [config.image],
    envNames: [...new Set([...Object.keys(config.env), ...SET_BY_CUTOVER])].sort(),
    replicas: config.replicas,
    configHash: createHash('sha256').update(hashed).digest('hex').slice(0, 12),
    view: { running: readyPods, detail: `${readyPods} ready pod(s) when provisioned`, envNames: null },
  };
}

/** The variable names of a running process, or null where that cannot be read (not Linux, not ours, gone). */
export async function processEnvNames(pid: number): Promise<string[] | null> {
  try {
    const raw = await readFile(`/proc/${pid}/environ`, 'latin1');
    return [
      ...new Set(
        raw
          .split('\0')
          .filter((kv) => kv.includes('='))
          .map((kv) => kv.slice(0, kv.indexOf('='))),
      ),
    ].sort();
  } catch {
    return null;
  }
}

/** The slot's spec as provisioned, with the provider's view of it now. */
export async function slotSpecOf(spec: ProvisionedSpec, replicas: readonly ReplicaStatus[]): Promise<SlotSpec> {
  const up = replicas.filter((r) => r.state === 'running' && r.pid !== null);
  const first = up[0];
  const envNames = first?.pid ? await processEnvNames(first.pid) : null;
  const pids = up.map((r) => r.pid).join(', ');
  return {
    ...spec,
    view: { running: up.length, detail: `${up.length} of ${replicas.length} replica(s) running${pids ? ` (pid ${pids})` : ''}`, envNames },
  };
}
