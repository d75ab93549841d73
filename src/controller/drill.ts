// `cutover drill <service> --errors 30% | --latency 2s`: a rollback drill. It is a release of the
// version that is live now into the idle slot (so a drill that is not caught harms nobody: the same
// version is promoted), marked as a drill in its data; while its traffic moves, the routers make the
// new slot's answers fail or wait (controller/shield.ts, router/faults.ts), and the service's own
// analysis must roll it back within the MTTR goal. The result is derived from the release's events
// (drill-spec.ts), so history and the dashboard show it like any release. A drill that analysis does
// not catch within DRILL_TIMEOUT_GOALS goals is rolled back by the drill itself, recorded as such.
import { conflict } from '../errors.ts';
import { isTerminal } from '../lifecycle.ts';
import type { JsonObject, ReleaseRecord, Store } from '../store/types.ts';
import type { StepContext } from './context.ts';
import { DRILL_GOAL_MS, drillData, drillOf, drillResult, type DrillResult } from './drill-spec.ts';
import { sleep } from './wait.ts';

/** A drill that analysis has not rolled back this many goals after traffic moved is ended by the drill. */
export const DRILL_TIMEOUT_GOALS = 10;
const POLL_MS = 100;

/** What a drill asks for: a share of failing answers, a delay, or both. */
export interface DrillRequest {
  errors: number;
  latency: number;
}

/** What the drill needs of the service's release controller. */
export interface DrillHost {
  ctx: StepContext;
  deploy(version: string, actor: string, opts: { data?: JsonObject; reason?: string }): Promise<ReleaseRecord>;
  rollback(actor: string, reason?: string): Promise<ReleaseRecord>;
}

/** Starts a drill of the live version; refuses (changing nothing) when there is no live version or the router is not in the path. */
export async function startDrill(host: DrillHost, req: DrillRequest, actor: string, signal: AbortSignal): Promise<ReleaseRecord> {
  const { rt } = host.ctx;
  const service = rt.cfg.name;
  if (rt.traffic.status().kind !== 'router') {
    throw conflict(
      `${service}'s traffic goes through ${rt.traffic.status().kind}, not the embedded router, which is what injects a drill's faults; drill a service with traffic: { kind: router }`,
    );
  }
  const state = rt.routeState();
  const version = state.live === null ? null : state.slots[state.live].version;
  if (state.live === null || version === null) {
    throw conflict(`${service} has no live version to drill; deploy one first with \`cutover deploy ${service} <version>\``);
  }
  const what = describe(req);
  const release = await host.deploy(version, actor, {
    data: drillData({ errors: req.errors, latency: req.latency, goalMs: DRILL_GOAL_MS }),
    reason: `drill: version ${version} (live) into ${state.live === 'blue' ? 'green' : 'blue'}, whose answers ${what} once traffic moves; analysis must roll it back within ${DRILL_GOAL_MS} ms`,
  });
  void watchDrill(host, release.id, signal).catch((err) =>
    host.ctx.log.warn('the drill watch stopped', { release: release.id, error: (err as Error).message }),
  );
  return release;
}

/** Ends a drill analysis did not catch: once traffic has been on the new slot for DRILL_TIMEOUT_GOALS goals, roll it back. */
async function watchDrill(host: DrillHost, id: string, signal: AbortSignal): Promise<void> {
  const { store } = host.ctx;
  let movedAt = 0;
  while (!signal.aborted) {
    const r = await store.getRelease(id);
    if (r === null || isTerminal(r.phase) || r.phase === 'promoted') return;
    const goal = drillOf(r)?.goalMs ?? DRILL_GOAL_MS;
    if (r.phase === 'shifting' || r.phase === 'observing') {
      if (movedAt === 0) movedAt = Date.now();
      else if (Date.now() - movedAt > DRILL_TIMEOUT_GOALS * goal) {
        await host
          .rollback('drill', `drill over: analysis did not roll back within ${DRILL_TIMEOUT_GOALS * goal} ms of the faults`)
          .catch(() => {}); // ended meanwhile: nothing left to do
        return;
      }
    }
    await sleep(POLL_MS, signal).catch(() => {});
  }
}

/** `releases` with each drill's result (from its events) beside it, for history and the dashboard. */
export async function withDrillResults(store: Store, releases: ReleaseRecord[]): Promise<(ReleaseRecord & { drill?: DrillResult })[]> {
  return Promise.all(
    releases.map(async (r) => {
      if (drillOf(r) === null) return r;
      const events = await store.events({ releaseId: r.id, limit: 100_000 });
      const drill = drillResult(r, events);
      return drill === null ? r : { ...r, drill };
    }),
  );
}

function describe(req: DrillRequest): string {
  const parts: string[] = [];
  if (req.errors > 0) parts.push(`fail ${Math.round(req.errors * 1000) / 10}% of the time`);
  if (req.latency > 0) parts.push(`wait ${req.latency} ms`);
  return parts.join(' and ');
}
