// The release's lifecycle hooks as the controller runs them (config `hooks:`). Every hook that ran is
// a `hook` event of the release, with its outcome; a failed one also becomes the webhook event
// hook-failed. Before traffic moves (beforeProvision, afterProvision, beforeSwitch) the hooks of a
// point run one after another and the first that fails fails the release (`requireHooks` throws).
// After traffic moved the release does not wait for them (`notifyHooks`): a slow after-switch hook
// must not keep analysis from starting, and a failing one is recorded and notified, never acted on.
import type { HookPoint } from '../config/types.ts';
import { CutoverError } from '../errors.ts';
import { hookName, runHook } from '../hooks/run.ts';
import type { ReleaseRecord } from '../store/types.ts';
import { CONTROLLER, type StepContext } from './context.ts';

/**
 * Runs the hooks of `point` in order; the reason of the first that failed, or null. Before traffic
 * moves the first failure ends the point; after, every hook still runs (each is told the news).
 */
async function runHooks(ctx: StepContext, release: ReleaseRecord, point: HookPoint, reason: string, all: boolean): Promise<string | null> {
  let first: string | null = null;
  for (const hook of ctx.rt.cfg.hooks?.[point] ?? []) {
    const outcome = await runHook(hook, {
      point,
      service: ctx.service,
      release: { id: release.id, version: release.version, slot: release.slot, fromSlot: release.fromSlot, phase: release.phase },
      reason,
      cwd: ctx.configDir,
    });
    const name = hookName(hook);
    await ctx.store
      .appendEvent({
        service: ctx.service,
        releaseId: release.id,
        type: 'hook',
        actor: CONTROLLER,
        reason: `${point} hook ${outcome.ok ? 'passed' : 'failed'}: ${name} (${outcome.summary})`,
        data: { point, name, ok: outcome.ok, summary: outcome.summary, durationMs: outcome.durationMs, output: outcome.output ?? [] },
      })
      .catch((err) => ctx.log.warn('cannot record a hook', { release: release.id, point, err }));
    if (!outcome.ok && first === null) {
      const tail =
        outcome.output && outcome.output.length > 0 ? `; its last output:\n${outcome.output.map((l) => `  | ${l}`).join('\n')}` : '';
      first = `${point} hook ${name} failed (${outcome.summary})${tail}`;
      if (!all) return first;
    }
  }
  return first;
}

/** The hooks of a point before traffic moves: throws (failing the release) when one fails. */
export async function requireHooks(ctx: StepContext, release: ReleaseRecord, point: HookPoint, reason: string): Promise<void> {
  const failed = await runHooks(ctx, release, point, reason, false);
  if (failed !== null) {
    throw new CutoverError('CUTOVER_E_HOOK_FAILED', `${failed}\nFix the hook or what it checks, then deploy again`, 409);
  }
}

/** The hooks of a point after traffic moved, waited for (beforeRetire: the standby slot stops after them); never throws. */
export async function afterTrafficHooks(ctx: StepContext, release: ReleaseRecord, point: HookPoint, reason: string): Promise<void> {
  await runHooks(ctx, release, point, reason, true).catch((err) => ctx.log.warn('a hook broke', { release: release.id, point, err }));
}

/** The hooks of a point after traffic moved, in the background: recorded and notified, never waited for. */
export function notifyHooks(ctx: StepContext, release: ReleaseRecord, point: HookPoint, reason: string): void {
  if ((ctx.rt.cfg.hooks?.[point] ?? []).length === 0) return;
  runHooks(ctx, release, point, reason, true).catch((err) => ctx.log.warn('a hook broke', { release: release.id, point, err }));
}
