// The process provider's judgements that need none of its state: whether replicas an earlier
// controller left running may be adopted (adoption is in process.ts), whether a command and cwd can
// launch at all, and the message a replica that failed to start leaves in the release.
import { stat } from 'node:fs/promises';
import type { HealthConfig, ProcessProvider, SlotName } from '../config/types.ts';
import { checkOnce } from '../router/health.ts';
import type { ReplicaRecord } from '../store/types.ts';
import { ProviderError } from './errors.ts';
import { processStartTime } from './groups.ts';
import type { ReplicaHandle, RunningReplica } from './replica-runner.ts';
import { launchSpec } from './template.ts';
import type { ReplicaExit } from './types.ts';

/** How long a replica found running may take to pass its health check before it is not adopted. */
const ADOPT_HEALTH_MS = 3000;
const ADOPT_HEALTH_RETRY_MS = 100;

/** A replica that stopped (or could not start) while it had to stay up. */
export type Failure = { replica: ReplicaHandle; exit: ReplicaExit; error: Error | null };

/** A replica found running, with the store's record of it (null: none). */
export type Candidate = { found: RunningReplica; record: ReplicaRecord | null };

/**
 * Why the replicas found in a slot may not be adopted for `version` (null: they may): each must be
 * on record with this slot, version and address, the same pid and start time (never a reused pid),
 * done provisioning, and pass its health check.
 */
export async function unadoptable(version: string, candidates: Candidate[], health: HealthConfig | undefined): Promise<string | null> {
  for (const { found, record } of candidates) {
    const target = `${found.host}:${found.port}`;
    if (record === null) return `replica ${found.id} (pid ${found.pid}) is not on record`;
    if (record.version !== version || found.version !== version) return `it runs version ${found.version}, not ${version}`;
    if (record.slot !== found.slot || record.address !== target)
      return `replica ${found.id} runs at ${target}, recorded at ${record.address}`;
    if (!found.supervised) return `replica ${found.id} had not finished provisioning`;
    if (found.pid === null) return `replica ${found.id} is down, waiting to be restarted`;
    // The supervisor restarts a replica that dies while no controller listens: the record follows.
    const recordedSame = record.pid === found.pid && record.startTime === found.startTime;
    if (!recordedSame && found.restarts === 0) return `replica ${found.id}: pid ${found.pid} is not the recorded pid ${record.pid}`;
    if (processStartTime(found.pid) !== found.startTime) return `pid ${found.pid} is no longer the replica that started`;
  }
  if (health === undefined) return null;
  const failing = await Promise.all(candidates.map(({ found }) => healthyWithin(`${found.host}:${found.port}`, health)));
  return failing.find((e) => e !== null) ?? null;
}

async function healthyWithin(target: string, health: HealthConfig): Promise<string | null> {
  const deadline = Date.now() + ADOPT_HEALTH_MS;
  for (;;) {
    const err = await checkOnce(target, health);
    if (err === null) return null;
    if (Date.now() + ADOPT_HEALTH_RETRY_MS > deadline) return `${target} fails its health check: ${err}`;
    await new Promise((r) => setTimeout(r, ADOPT_HEALTH_RETRY_MS));
  }
}

/** Fails before anything is reserved when the command or cwd cannot work, naming the config key. */
export async function checkLaunchable(config: ProcessProvider, service: string, slot: SlotName, version: string): Promise<void> {
  let cwd: string | undefined;
  try {
    ({ cwd } = launchSpec(config, { service, slot, version, port: 0, baseEnv: {} }));
  } catch (err) {
    throw new ProviderError('CUTOVER_E_PROVISION_FAILED', `${service}: ${(err as Error).message}`, { cause: err });
  }
  if (cwd === undefined) return;
  const isDir = await stat(cwd).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) {
    throw new ProviderError(
      'CUTOVER_E_PROVISION_FAILED',
      `${service}/${slot}: the working directory ${cwd} (provider.cwd for version ${version}) is not a directory; create it or fix provider.cwd, then deploy again`,
    );
  }
}

/** What a release says of a replica that did not stay up for `stableFor`, with its last output. */
export function failureMessage(
  service: string,
  slot: SlotName,
  version: string,
  stableFor: number,
  failure: Failure,
  lines: string[],
): string {
  const who = `replica ${failure.replica.index} of ${service}/${slot} (version ${version})`;
  if (failure.error) {
    return `${who} could not be started: ${failure.error.message}. Check that provider.command names a program on PATH or by absolute path, and that provider.cwd exists, then deploy again`;
  }
  const { code, signal } = failure.exit;
  const how = code !== null ? `exited with code ${code}` : `was killed by ${signal}`;
  const output = lines.length > 0 ? `its last output:\n${lines.map((l) => `  | ${l}`).join('\n')}` : 'it printed nothing';
  return `${who} ${how} within ${stableFor} ms of starting; ${output}\nFix the application or provider.command, then deploy again (\`cutover logs ${service} --slot ${slot}\` has the whole log)`;
}
