// Preview with fewer replicas (provider.previewReplicas, like Argo Rollouts' previewReplicaCount): a
// new slot starts with previewReplicas for its gates and preview, and before traffic moves to it the
// slot is scaled up to `replicas`, every one of them healthy. The scale-up is recorded as an event
// before it starts and once it is done; a slot already at `replicas` (an instant rollback, a resumed
// shift) is left as it is. What a slot is provisioned with is slots.ts's provisionReplicas().
import type { ProviderConfig } from '../config/types.ts';
import type { ReleaseRecord } from '../store/types.ts';
import { CONTROLLER, type StepContext } from './context.ts';
import { waitSlotHealthy } from './slots.ts';

/** Before the switch: the release's slot runs `replicas`, all healthy, and the route state has every target. */
export async function scaleUpBeforeSwitch(ctx: StepContext, release: ReleaseRecord, signal: AbortSignal): Promise<void> {
  // Read defensively: a config built in code (tests' fakes) may not name its provider.
  const cfg = ctx.rt.cfg.provider as ProviderConfig | undefined;
  const provider = ctx.provider;
  if (cfg === undefined || cfg.kind === 'static' || cfg.previewReplicas === undefined || provider.scaleUp === undefined) return;
  const slot = release.slot;
  const running = provider.deployment(slot);
  if (running === null || running.version !== release.version) return;
  const from = running.targets.length;
  if (from >= cfg.replicas) return;
  const to = cfg.replicas;
  await ctx.store.appendEvent({
    service: ctx.service,
    releaseId: release.id,
    type: 'provider',
    actor: CONTROLLER,
    reason: `scaling ${slot} from ${from} to ${to} replicas before the switch`,
    data: { slot, version: release.version, from, to },
  });
  const d = await provider.scaleUp(slot, { signal });
  signal.throwIfAborted();
  await ctx.rt.setSlot(
    slot,
    { version: release.version, targets: d.targets },
    CONTROLLER,
    `${slot} runs version ${release.version} on ${d.targets.length} replicas`,
    release.id,
  );
  await waitSlotHealthy(ctx, release, d.targets, signal);
  await ctx.store.appendEvent({
    service: ctx.service,
    releaseId: release.id,
    type: 'provider',
    actor: CONTROLLER,
    reason: `scaled ${slot} from ${from} to ${d.targets.length} replicas before the switch; all ${d.targets.length} are healthy`,
    data: { slot, version: release.version, from, to: d.targets.length },
  });
  ctx.log.info('slot scaled up before the switch', { release: release.id, slot, from, to: d.targets.length });
}
