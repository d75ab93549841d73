// Database migrations in a release, the blue-green way. Expand runs in provisioning, before the new
// slot starts, once the lint has refused anything that would break the live version; contract runs only
// once the old slot is retired, when no old code is left. What ran is derived from `migration` events.
import { CutoverError, conflict } from '../errors.ts';
import { lintBeforeExpand, runMigration, type MigrationResult } from '../migrations/runner.ts';
import type { ReleaseRecord, StoreEvent } from '../store/types.ts';
import { CONTROLLER, type StepContext } from './context.ts';

/** How long one migration command may run. */
export const MIGRATION_TIMEOUT = 10 * 60_000;
const OUTPUT_LINES = 20;

function lastLines(text: string): string {
  const lines = text.trimEnd().split('\n');
  return lines
    .slice(-OUTPUT_LINES)
    .map((l) => `  | ${l}`)
    .join('\n');
}

async function ran(ctx: StepContext, releaseId: string, kind: 'expand' | 'contract'): Promise<StoreEvent | undefined> {
  const events = await ctx.store.events({ releaseId });
  return events.find((e) => e.type === 'migration' && e.data.kind === kind && e.data.ok === true);
}

async function record(ctx: StepContext, release: ReleaseRecord, r: MigrationResult, actor: string): Promise<void> {
  const what = r.ok ? 'ran' : r.timedOut ? 'timed out' : r.aborted ? 'was stopped' : `failed (exit ${r.exitCode ?? r.signal})`;
  await ctx.store.appendEvent({
    service: ctx.service,
    releaseId: release.id,
    type: 'migration',
    actor,
    reason: `the ${r.kind} migration \`${r.command}\` ${what} in ${r.durationMs} ms`,
    data: { kind: r.kind, ok: r.ok, exitCode: r.exitCode, durationMs: r.durationMs, output: r.output.slice(-4000) },
  });
}

/** Provisioning: lint the expand files, then run expand. A refusal or a failure fails the release; nothing was switched. */
export async function expandBeforeProvision(ctx: StepContext, release: ReleaseRecord, signal: AbortSignal): Promise<void> {
  const m = ctx.rt.cfg.migrations;
  if (!m?.expand) return;
  // A restart after expand ran does not run it again (migration tools are idempotent, but it saves time).
  if (await ran(ctx, release.id, 'expand')) return;
  if (m.lint) {
    const lint = await lintBeforeExpand(m.lint, ctx.configDir);
    const warnings = lint.findings.filter((f) => f.severity === 'warning');
    await ctx.store.appendEvent({
      service: ctx.service,
      releaseId: release.id,
      type: 'migration',
      actor: CONTROLLER,
      reason: `the expand migrations pass the blue-green lint (${lint.files.length} file(s), ${warnings.length} warning(s), ${lint.allowed.length} statement(s) let through by annotation)`,
      data: {
        kind: 'lint',
        warnings: warnings.map((f) => `${f.file}:${f.line}: ${f.rule}: ${f.message}`),
        allowed: lint.allowed.map((a) => ({ file: a.file, line: a.line, rule: a.rule, reason: a.reason })),
      },
    });
  }
  const r = await runMigration('expand', m.expand, {
    cwd: ctx.configDir,
    ...(m.database ? { databaseEnvName: m.database } : {}),
    timeoutMs: MIGRATION_TIMEOUT,
    signal,
  });
  await record(ctx, release, r, CONTROLLER);
  if (!r.ok && !signal.aborted) {
    throw new CutoverError(
      'CUTOVER_E_MIGRATION_FAILED',
      `the expand migration \`${m.expand}\` ${r.timedOut ? 'timed out' : `failed (exit ${r.exitCode ?? r.signal})`}; nothing was switched and the live version is untouched. Its last output:\n${lastLines(r.output)}`,
      409,
    );
  }
}

/** After retire: no old code is left, so the destructive half may run. A failure is recorded, never undone. */
export async function contractAfterRetire(ctx: StepContext, release: ReleaseRecord, actor = CONTROLLER): Promise<MigrationResult | null> {
  const m = ctx.rt.cfg.migrations;
  if (!m?.contract) return null;
  if (await ran(ctx, release.id, 'contract')) return null;
  const r = await runMigration('contract', m.contract, {
    cwd: ctx.configDir,
    ...(m.database ? { databaseEnvName: m.database } : {}),
    timeoutMs: MIGRATION_TIMEOUT,
  });
  await record(ctx, release, r, actor);
  if (!r.ok)
    ctx.log.error('contract migration failed; fix it and run `cutover migrations contract`', {
      service: ctx.service,
      release: release.id,
      exitCode: r.exitCode,
    });
  return r;
}

/** `cutover migrations contract <service>`: only once the latest release is retired. */
export async function contractNow(ctx: StepContext, actor: string): Promise<MigrationResult> {
  const m = ctx.rt.cfg.migrations;
  if (!m?.contract) throw conflict(`${ctx.service} has no migrations.contract command in its config`);
  const active = await ctx.store.activeRelease(ctx.service);
  if (active !== null) {
    throw conflict(
      `release ${active.id} (version ${active.version}) of ${ctx.service} is ${active.phase}: old code may still run (on standby or live), so the contract migration waits until it is retired`,
    );
  }
  const [latest] = await ctx.store.listReleases(ctx.service, { limit: 1 });
  if (latest === undefined || latest.phase !== 'retired') {
    throw conflict(
      `the latest release of ${ctx.service} is not retired (${latest ? latest.phase : 'there is none'}): contract runs only when no old code is left`,
    );
  }
  const done = await ran(ctx, latest.id, 'contract');
  if (done) throw conflict(`the contract migration of release ${latest.id} already ran (${done.time})`);
  return (await contractAfterRetire(ctx, latest, actor)) as MigrationResult;
}

/** Why rolling back to the version before `release` is refused once its contract migration ran, or null. */
export async function contractBlocksRollback(ctx: StepContext, release: ReleaseRecord): Promise<string | null> {
  const done = await ran(ctx, release.id, 'contract');
  if (!done) return null;
  const previous = typeof release.data?.fromVersion === 'string' ? release.data.fromVersion : 'the previous version';
  return (
    `the contract migration of release ${release.id} ran at ${done.time}: the schema ${previous} relies on is gone, so going back to it would break it. ` +
    `Fix forward with a new release, or restore the schema first (a new expand migration) and then deploy ${previous}`
  );
}
