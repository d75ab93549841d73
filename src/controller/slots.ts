// The release's slot as the steps need it: running its version (started again when it does not,
// as after a restart), with every target healthy; and the provider's replica restarts on record.
import { CutoverError } from '../errors.ts';
import type { ReleaseRecord } from '../store/types.ts';
import { CONTROLLER, type StepContext } from './context.ts';
import { redactText } from '../secrets.ts';
import { isBeforeTraffic } from '../lifecycle.ts';
import type { ProviderConfig } from '../config/types.ts';
import { isInstantRollback } from './rollback.ts';

/** How long a new slot's targets have to become healthy before the release fails. */
export const VERIFY_TIMEOUT = 60_000;
/** Lines of the slot's log quoted when its targets never become healthy. */
const LOG_LINES_IN_REASON = 20;

/** The release's slot runs its version, recorded in the route state; resolves to its targets. */
export async function provisionSlot(ctx: StepContext, release: ReleaseRecord, signal: AbortSignal): Promise<string[]> {
  const running = ctx.provider.deployment(release.slot);
  const replicas = provisionReplicas(ctx.rt.cfg.provider, release);
  const d =
    running?.version === release.version
      ? running
      : await ctx.provider.provision(release.slot, release.version, { signal, ...(replicas === undefined ? {} : { replicas }) });
  signal.throwIfAborted();
  await ctx.rt.setSlot(
    release.slot,
    { version: release.version, targets: d.targets },
    CONTROLLER,
    `${release.slot} runs version ${release.version}`,
    release.id,
  );
  return d.targets;
}

/** The replicas the release's slot is provisioned with: previewReplicas while it is previewed, else none said (the config's). */
export function provisionReplicas(provider: ProviderConfig | undefined, release: ReleaseRecord): number | undefined {
  // Read defensively: a config built in code (tests' fakes) may not name its provider.
  if (provider === undefined || provider.kind === 'static' || provider.previewReplicas === undefined) return undefined;
  if (!isBeforeTraffic(release.phase) || isInstantRollback(release)) return undefined;
  return Math.min(provider.previewReplicas, provider.replicas);
}

/** Every target healthy within VERIFY_TIMEOUT, or an error quoting the slot's last output. */
export async function waitSlotHealthy(ctx: StepContext, release: ReleaseRecord, targets: string[], signal: AbortSignal): Promise<void> {
  const service = ctx.service;
  try {
    await ctx.rt.waitHealthy(targets, VERIFY_TIMEOUT, signal);
  } catch (err) {
    if (signal.aborted) throw err;
    const lines = await ctx.provider.lastOutput(release.slot, LOG_LINES_IN_REASON);
    const output = lines.length > 0 ? `; the slot's last output:\n${lines.map((l) => `  | ${redactText(l)}`).join('\n')}` : '';
    throw new CutoverError(
      'CUTOVER_E_SLOT_UNHEALTHY',
      `${service}/${release.slot} (version ${release.version}): ${(err as Error).message}${output}\nFix the application or health.path, then deploy again (\`cutover logs ${service} --slot ${release.slot}\`)`,
      409,
      { cause: err },
    );
  }
}

/** A replica that dies after provisioning is restarted by the provider; the event log says so. */
export function recordReplicaExits(ctx: StepContext): () => void {
  return ctx.provider.onReplicaEvent((e) => {
    if (e.type !== 'replica-exit' || e.restartIn === null) return;
    const how = e.code !== null ? `exited with code ${e.code}` : `was killed by ${e.signal}`;
    ctx.store
      .appendEvent({
        service: ctx.service,
        type: 'provider',
        actor: CONTROLLER,
        reason: `replica ${e.replica} of ${e.slot} (version ${e.version}, ${e.target}) ${how} after ${e.uptime} ms; restarting it in ${e.restartIn} ms (restart ${e.restarts + 1})`,
        data: {
          slot: e.slot,
          version: e.version,
          replica: e.replica,
          target: e.target,
          code: e.code,
          signal: e.signal,
          restarts: e.restarts,
        },
      })
      .catch((err) => ctx.log.warn('cannot record a replica exit', { err }));
  });
}
