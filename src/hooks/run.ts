// Running one lifecycle hook: a command (by /bin/sh in the config's folder, in its own process group,
// with the release in its environment) or a webhook (a JSON POST of the release). Either ends within
// its timeout with an outcome; nothing here throws.
//
// Environment of a command hook, and the fields of a webhook's body:
//   CUTOVER_HOOK (hook)          the point: beforeProvision, afterSwitch, onRollback, ...
//   CUTOVER_SERVICE (service)    CUTOVER_RELEASE (release.id)    CUTOVER_VERSION (release.version)
//   CUTOVER_SLOT (release.slot)  CUTOVER_FROM_SLOT (release.fromSlot, empty for a first release)
//   CUTOVER_PHASE (release.phase)  CUTOVER_REASON (reason): why the release is where it is
// The daemon's secrets (CUTOVER_TOKEN, webhook signing keys: src/secrets.ts) are removed, and the
// output it keeps is cut of their values: a hook has no business with them.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { HookConfig, HookPoint } from '../config/types.ts';
import { signalGroup } from '../providers/groups.ts';
import { LineRing, LineSplitter } from '../providers/output.ts';
import { childEnv, redactText } from '../secrets.ts';

/** After SIGTERM at its timeout, a command's group has this long before SIGKILL. */
const KILL_GRACE_MS = 2000;
const OUTPUT_LINES = 10;

export interface HookContext {
  point: HookPoint;
  service: string;
  release: { id: string; version: string; slot: string; fromSlot: string | null; phase: string };
  reason: string;
  /** Where command hooks run. */
  cwd: string;
}

export interface HookOutcome {
  ok: boolean;
  /** For people: `exit 0`, `exit 3`, `timed out after 5s`, `HTTP 500`, ... */
  summary: string;
  durationMs: number;
  /** The command's last lines of output. */
  output?: string[];
}

export function hookName(hook: HookConfig): string {
  return hook.kind === 'command' ? `command: ${hook.run}` : `webhook: ${new URL(hook.url).origin}${new URL(hook.url).pathname}`;
}

export function runHook(hook: HookConfig, ctx: HookContext): Promise<HookOutcome> {
  return hook.kind === 'command' ? runCommand(hook, ctx) : runWebhook(hook, ctx);
}

function runCommand(hook: Extract<HookConfig, { kind: 'command' }>, ctx: HookContext): Promise<HookOutcome> {
  const started = performance.now();
  const env: NodeJS.ProcessEnv = {
    ...childEnv(),
    CUTOVER_HOOK: ctx.point,
    CUTOVER_SERVICE: ctx.service,
    CUTOVER_RELEASE: ctx.release.id,
    CUTOVER_VERSION: ctx.release.version,
    CUTOVER_SLOT: ctx.release.slot,
    CUTOVER_FROM_SLOT: ctx.release.fromSlot ?? '',
    CUTOVER_PHASE: ctx.release.phase,
    CUTOVER_REASON: ctx.reason,
  };
  const ring = new LineRing(OUTPUT_LINES);
  return new Promise((resolve) => {
    const done = (ok: boolean, summary: string): void => {
      clearTimeout(timer);
      resolve({ ok, summary, durationMs: Math.round(performance.now() - started), output: ring.last().map((l) => redactText(l)) });
    };
    let timedOut = false;
    const child = spawn('/bin/sh', ['-c', hook.run], { cwd: ctx.cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout, child.stderr]) {
      const split = new LineSplitter();
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        for (const line of split.push(d)) ring.push(line);
      });
      stream.on('end', () => {
        for (const line of split.flush()) ring.push(line);
      });
    }
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGTERM');
      setTimeout(() => child.pid !== undefined && signalGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS).unref();
    }, hook.timeout);
    child.on('error', (err) => done(false, `could not start: ${err.message}`));
    child.on('close', (code, signal) => {
      if (timedOut) return done(false, `timed out after ${hook.timeout} ms`);
      if (code === 0) return done(true, 'exit 0');
      done(false, code !== null ? `exit ${code}` : `killed by ${signal}`);
    });
  });
}

async function runWebhook(hook: Extract<HookConfig, { kind: 'webhook' }>, ctx: HookContext): Promise<HookOutcome> {
  const started = performance.now();
  const body = { hook: ctx.point, service: ctx.service, release: ctx.release, reason: ctx.reason, time: new Date().toISOString() };
  const took = (): number => Math.round(performance.now() - started);
  try {
    const res = await fetch(hook.url, {
      method: 'POST',
      headers: { ...hook.headers, 'content-type': 'application/json', 'user-agent': 'cutover-hook' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(hook.timeout),
      redirect: 'manual',
    });
    await res.body?.cancel().catch(() => {});
    return { ok: res.status >= 200 && res.status <= 299, summary: `HTTP ${res.status}`, durationMs: took() };
  } catch (err) {
    const e = err as Error;
    const why =
      e.name === 'TimeoutError' ? `timed out after ${hook.timeout} ms` : `${e.message}${e.cause ? `: ${(e.cause as Error).message}` : ''}`;
    return { ok: false, summary: why, durationMs: took() };
  }
}
