// The gates of `verifying`: the idle slot is opened to requests that carry the release's secret
// preview token, then every gate runs against it in order, each result recorded with the release as
// it comes. The mirror gate lives here because only the controller can make the router copy live
// requests to the idle slot.
import { randomBytes } from 'node:crypto';
import { errorRate } from '../analysis/router-source.ts';
import type { SlotName } from '../config/types.ts';
import { formatMs, percent } from '../gates/common.ts';
import { runGates } from '../gates/run.ts';
import type { GateContext, GateResult, GateRunner, MirrorGate } from '../gates/types.ts';
import { diffSnapshot } from '../router/metrics.ts';
import { joinHostPort, reachableHost, splitHostPort } from '../net/address.ts';
import type { JsonObject, Phase, ReleaseRecord, StoreEvent } from '../store/types.ts';
import { isInstantRollback } from './rollback.ts';
import { CONTROLLER, type StepContext } from './context.ts';
import { notifyHooks, requireHooks } from './hooks.ts';
import { parityBeforeSwitch } from './parity.ts';
import { type Runner, msUntil, sleep, woken } from './wait.ts';

/** How often a release awaiting approval looks at the store again. */
const APPROVAL_POLL = 1000;

/** What verifying and awaiting approval need from the controller. */
export interface VerifyHost {
  ctx: StepContext;
  provisioned(release: ReleaseRecord, signal: AbortSignal): Promise<string[]>;
  healthy(release: ReleaseRecord, targets: string[], signal: AbortSignal): Promise<void>;
  move(release: ReleaseRecord, phase: Phase, reason: string, releaseData?: JsonObject): Promise<void>;
  /** After a release ended before traffic moved: its slot runs nothing any more. */
  clearIdle(release: ReleaseRecord): Promise<void>;
}

/** Random bytes in a preview token (base64url): not guessable, short enough for a header or cookie. */
const PREVIEW_TOKEN_BYTES = 24;

export function newPreviewToken(): string {
  return randomBytes(PREVIEW_TOKEN_BYTES).toString('base64url');
}

/** The URL gates reach the router's listener on: a wildcard listen address is reached on loopback. */
export function listenUrl(listen: string): string {
  const { host, port } = splitHostPort(listen);
  return `http://${joinHostPort(reachableHost(host), port)}`;
}

/** The idle slot healthy, open to preview, then every gate; a gate that does not pass fails the release. */
export async function verify(host: VerifyHost, release: ReleaseRecord, signal: AbortSignal): Promise<void> {
  const ctx = host.ctx;
  const cfg = ctx.rt.cfg;
  const slot = release.slot;
  const targets = await host.provisioned(release, signal);
  await host.healthy(release, targets, signal);
  if (isInstantRollback(release)) {
    // It stood by after being live, and its gates passed when it was released: the swap comes next.
    await host.move(release, 'shifting', `every target of ${slot} is healthy; an instant rollback to the version on standby runs no gates`);
    return;
  }
  const current = ctx.rt.routeState().preview;
  const token = current?.slot === slot ? current.token : newPreviewToken();
  await openPreview(ctx, release, token);
  const results = await runReleaseGates(ctx, release, targets, token, signal);
  signal.throwIfAborted();
  const gates = results as unknown as JsonObject[];
  const bad = results.findIndex((r) => r.outcome !== 'passed');
  if (bad >= 0) {
    const reason = gateFailure(results[bad] as GateResult, bad, cfg.gates.length);
    const { release: ended } = await ctx.store.transition(release.id, 'failed', {
      from: 'verifying',
      actor: CONTROLLER,
      reason,
      releaseData: { gates },
    });
    ctx.log.info('release phase', { release: release.id, phase: 'failed', reason: `gate ${bad + 1} did not pass` });
    notifyHooks(ctx, ended, 'onFailure', reason);
    await host.clearIdle(ended);
    return;
  }
  // Before the switch may happen: with approval: manual, before the release waits for it. A hook
  // that fails here fails the release (the caller records it), with the live slot untouched.
  await requireHooks(ctx, release, 'beforeSwitch', `${slot} passed its gates; traffic moves next`);
  // What differs between the slots besides the version, on record before traffic moves; with
  // parity.strict a difference fails the release here, the live slot untouched.
  await parityBeforeSwitch(
    { provider: ctx.provider, cfg, state: ctx.rt.routeState(), store: ctx.store, actor: CONTROLLER, releaseId: release.id },
    slot,
    true,
  );
  const passed = results.length === 0 ? '' : `; ${results.length === 1 ? 'its gate passed' : `all ${results.length} gates passed`}`;
  if (cfg.approval === 'manual') {
    const approvalDeadline = cfg.approvalTimeout === undefined ? null : new Date(Date.now() + cfg.approvalTimeout).toISOString();
    const until = approvalDeadline === null ? '' : ` (until ${approvalDeadline}, then ${cfg.onTimeout})`;
    await host.move(
      release,
      'awaiting-approval',
      `every target of ${slot} is healthy${passed}; waiting for \`cutover promote ${ctx.service}\`${until}`,
      { gates, approvalDeadline },
    );
    return;
  }
  await host.move(release, 'shifting', `every target of ${slot} is healthy${passed}`, { gates });
}

/** Waits for promote() (which records shifting and wakes this) or abort(); the approval timeout decides otherwise. */
export async function awaitApproval(host: VerifyHost, release: ReleaseRecord, runner: Runner): Promise<void> {
  const ctx = host.ctx;
  const signal = runner.abort.signal;
  const cfg = ctx.rt.cfg;
  await host.provisioned(release, signal);
  const deadline = release.data?.approvalDeadline;
  if (typeof deadline === 'string' && msUntil(deadline) === 0) {
    const waited = cfg.approvalTimeout === undefined ? '' : ` within ${formatMs(cfg.approvalTimeout)}`;
    if (cfg.onTimeout === 'promote') {
      await host.move(release, 'shifting', `no approval${waited}; onTimeout is promote, so the release goes on`);
      return;
    }
    const { release: ended } = await ctx.store.transition(release.id, 'aborted', {
      from: 'awaiting-approval',
      actor: CONTROLLER,
      reason: `no approval${waited}; onTimeout is abort`,
    });
    ctx.log.info('release phase', { release: release.id, phase: 'aborted', reason: 'approval timed out' });
    await host.clearIdle(ended);
    return;
  }
  // The poll covers an approval recorded before this started to wait.
  await woken(runner, typeof deadline === 'string' ? Math.min(APPROVAL_POLL, msUntil(deadline)) : APPROVAL_POLL);
}

/** The gate results of the latest verification (a restarted daemon runs the gates again). */
export function gateResults(events: StoreEvent[]): GateResult[] {
  let from = 0;
  events.forEach((e, i) => {
    if (e.type === 'phase' && e.phase === 'verifying') from = i;
  });
  return events
    .slice(from)
    .filter((e) => e.type === 'gate')
    .map((e) => e.data.result as GateResult);
}

/** Requests to the slot in preview route by the token; the token itself stays out of the event. */
export async function openPreview(ctx: StepContext, release: ReleaseRecord, token: string): Promise<void> {
  const cur = ctx.rt.routeState().preview;
  if (cur?.slot === release.slot && cur.token === token) return;
  await ctx.rt.setRoutes(
    { preview: { slot: release.slot, token } },
    CONTROLLER,
    `release ${release.id}: ${release.slot} can be previewed with the release's token`,
    release.id,
  );
}

/** Ends preview (and any mirror) of the release's slot: an old token then reaches the live slot. */
export async function closePreview(ctx: StepContext, release: ReleaseRecord): Promise<void> {
  const s = ctx.rt.routeState();
  const patch: { preview?: null; mirror?: null } = {};
  if (s.preview?.slot === release.slot) patch.preview = null;
  if (s.mirror?.slot === release.slot) patch.mirror = null;
  if (Object.keys(patch).length === 0) return;
  await ctx.rt.setRoutes(patch, CONTROLLER, `release ${release.id}: preview of ${release.slot} closed`, release.id);
}

/** Runs the service's gates on the release's slot; returns every result (the last is the first that did not pass). */
export async function runReleaseGates(
  ctx: StepContext,
  release: ReleaseRecord,
  targets: string[],
  token: string,
  signal: AbortSignal,
): Promise<GateResult[]> {
  const cfg = ctx.rt.cfg;
  if (cfg.gates.length === 0) return [];
  const gctx: GateContext = {
    service: ctx.service,
    version: release.version,
    slot: release.slot,
    previewUrl: listenUrl(ctx.rt.listenAddress()),
    previewHeader: cfg.preview.header,
    previewToken: token,
    directTargets: targets,
    cwd: ctx.configDir,
    signal,
    log: ctx.log,
  };
  return runGates(
    cfg.gates,
    gctx,
    async (result, index) => {
      await ctx.store.appendEvent({
        service: ctx.service,
        releaseId: release.id,
        type: 'gate',
        actor: CONTROLLER,
        reason: `gate ${index + 1} of ${cfg.gates.length} (${result.name}) ${result.outcome} in ${formatMs(result.durationMs)}: ${result.summary}`,
        data: { index, result: result as unknown as Record<string, unknown> },
      });
    },
    { mirror: mirrorRunner(ctx, release.slot) },
  );
}

/** The reason of a release whose gate did not pass: which gate, and what it found. */
export function gateFailure(result: GateResult, index: number, total: number): string {
  const what = result.outcome === 'failed' ? 'failed' : result.outcome === 'timeout' ? 'timed out' : 'could not judge the version';
  const details = result.details;
  const output =
    typeof details.output === 'string' && result.kind === 'command' && details.output.trim() !== ''
      ? `\n${details.output
          .trimEnd()
          .split('\n')
          .slice(-10)
          .map((l) => `  | ${l}`)
          .join('\n')}`
      : '';
  return `gate ${index + 1} of ${total} (${result.name}) ${what}: ${result.summary}${output}`;
}

/**
 * The mirror gate: copies `share` of live GET/HEAD requests to the idle slot for `duration`, then
 * compares the idle slot's error rate over that time with the live slot's. Too few copies is an
 * error, never a pass; a first release has no live traffic to copy, so there it is skipped.
 */
function mirrorRunner(ctx: StepContext, slot: SlotName): GateRunner<MirrorGate> {
  return async (gate, gctx) => {
    const started = performance.now();
    const name = `mirror: ${percent(gate.share)} of live requests for ${formatMs(gate.duration)}`;
    const result = (outcome: GateResult['outcome'], summary: string, details: Record<string, unknown> = {}): GateResult => ({
      kind: 'mirror',
      name,
      outcome,
      durationMs: Math.round(performance.now() - started),
      summary,
      details,
    });
    const live = ctx.rt.routeState().live;
    if (live === null || live === slot)
      return result('passed', 'skipped: there is no live slot whose requests could be copied (a first release)');
    const before = await ctx.rt.metrics();
    await ctx.rt.setRoutes(
      { mirror: { slot, share: gate.share } },
      CONTROLLER,
      `mirror gate: ${percent(gate.share)} of live GET/HEAD requests copied to ${slot}`,
    );
    let aborted = false;
    try {
      await sleep(gate.duration, gctx.signal);
    } catch {
      aborted = true;
    } finally {
      if (ctx.rt.routeState().mirror)
        await ctx.rt.setRoutes({ mirror: null }, CONTROLLER, `mirror gate over: nothing is copied to ${slot} any more`);
    }
    if (aborted) return result('error', 'the release was stopped while requests were mirrored');
    const after = await ctx.rt.metrics();
    const idle = diffSnapshot(after.slots[slot], before.slots[slot]);
    const used = diffSnapshot(after.slots[live], before.slots[live]);
    const need = Math.max(1, ctx.rt.cfg.analysis.minSamples);
    const details = {
      mirrored: idle.requests,
      liveRequests: used.requests,
      idleErrors: idle.status[5] ?? 0,
      liveErrors: used.status[5] ?? 0,
    };
    if (idle.requests < need) {
      return result(
        'error',
        `only ${idle.requests} requests were mirrored to ${slot} in ${formatMs(gate.duration)}, fewer than the ${need} needed to judge; raise share or duration, or run it when users send traffic`,
        details,
      );
    }
    const idleRate = errorRate(idle) ?? 0;
    const liveRate = errorRate(used) ?? 0;
    const delta = idleRate - liveRate;
    const numbers = `error rate ${percent(idleRate)} on ${slot} over ${idle.requests} mirrored requests against ${percent(liveRate)} on live ${live}`;
    const all = { ...details, idleErrorRate: idleRate, liveErrorRate: liveRate, delta };
    if (delta > gate.maxErrorRateDelta)
      return result('failed', `${numbers}: ${percent(delta)} more, above maxErrorRateDelta ${percent(gate.maxErrorRateDelta)}`, all);
    return result('passed', `${numbers}: within maxErrorRateDelta ${percent(gate.maxErrorRateDelta)}`, all);
  };
}
