// What a restarted daemon does before it continues a release: the live slot, and the standby slot of
// a release that has moved traffic (or one a failed release gave back), are provisioned again from
// the route state: the process provider adopts the replicas still running under the supervisor (same
// targets: nothing changes), or starts them again on new ports (their replicas died with a controller
// that had no supervisor), and new targets are recorded; the router serves them only once they are
// healthy. Slots nothing needs are forgotten and what still runs in them stopped; a release that has
// not moved traffic yet provisions its own slot again when it continues (adopting its replicas when
// they had finished provisioning).
import type { SlotName } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { Provider } from '../providers/types.ts';
import { hasTraffic } from '../lifecycle.ts';
import type { ReleaseRecord, Store } from '../store/types.ts';
import type { ServiceRuntime } from './service.ts';
import { unwritableIn } from '../store/faults.ts';

const ACTOR = 'controller';

export interface ResumeContext {
  runtime: ServiceRuntime;
  provider: Provider;
  store: Store;
  log: Logger;
}

/**
 * The slots that must run again: the live one, both slots of a release with traffic, and a standby
 * that a failed or aborted release gave back (`standby`, see standby.ts).
 */
export function slotsToRestart(
  live: SlotName | null,
  liveVersion: string | null,
  active: ReleaseRecord | null,
  now = Date.now(),
  standby: SlotName | null = null,
  /** Started before the live slot: the good slot of a rollback whose switch back is owed. */
  first: SlotName | null = null,
): SlotName[] {
  const keep = new Set<SlotName>();
  if (live !== null && liveVersion !== null) keep.add(live);
  if (standby !== null) keep.add(standby);
  if (active !== null && hasTraffic(active.phase)) {
    keep.add(active.slot);
    // A standby slot whose time ran out while the daemon was down is only retired: not worth starting.
    const expired = active.phase === 'promoted' && Date.parse(String(active.data?.standbyUntil)) <= now;
    if (active.fromSlot !== null && !expired) keep.add(active.fromSlot);
  }
  // The live slot first (or the slot traffic goes back to): it is what users wait for.
  const lead = first ?? live;
  return [...keep].sort((a, b) => (a === lead ? -1 : b === lead ? 1 : 0));
}

export async function restartSlots(
  ctx: ResumeContext,
  active: ReleaseRecord | null,
  standby: SlotName | null = null,
  first: SlotName | null = null,
): Promise<void> {
  const { runtime: rt, provider, store, log } = ctx;
  const service = rt.cfg.name;
  const state = rt.routeState();
  const keep = slotsToRestart(state.live, state.live === null ? null : state.slots[state.live].version, active, Date.now(), standby, first);
  for (const slot of keep) {
    const version = state.slots[slot].version;
    if (version === null) continue;
    try {
      const d = await provider.provision(slot, version);
      // Served even while the stateDir cannot be written (see restarted): users need the live slot.
      await rt.restarted(slot, version, d.targets, ACTOR, `daemon restarted: ${slot} runs version ${version} again`);
    } catch (err) {
      log.error('cannot start a slot again after the restart', { slot, version, err });
      await store
        .appendEvent({
          service,
          type: 'provider',
          actor: ACTOR,
          reason: `daemon restarted: ${slot} (version ${version}) could not be started again: ${(err as Error).message}; see \`cutover logs ${service} --slot ${slot}\``,
          data: { slot, version },
        })
        .catch((e) => log.warn('cannot record that the slot did not start again', { slot, err: e }));
    }
  }
  // Replicas found running that no kept slot adopted stop (a retired slot's, say); a release that has
  // not moved traffic yet may adopt its own slot's when it continues (it provisions that slot first).
  const later = active !== null && !hasTraffic(active.phase) ? [active.slot] : [];
  await provider.adoptionDone?.(later).catch((err) => log.warn('cannot stop the replicas nothing adopted', { err }));
  for (const slot of ['blue', 'green'] as const) {
    if (keep.includes(slot)) continue;
    if (state.slots[slot].targets.length > 0 || state.slots[slot].version !== null) {
      try {
        await rt.setSlot(slot, { version: null, targets: [] }, ACTOR, `daemon restarted: ${slot} runs nothing`);
      } catch (err) {
        // A slot that carries no traffic can stay recorded until the stateDir takes writes again.
        if (unwritableIn(err) === null) throw err;
        log.warn('cannot record that a slot runs nothing: the store cannot be written', { slot });
      }
    }
  }
}
