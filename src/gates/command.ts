// The command gate: any program (a project's end-to-end suite, Playwright, k6 ...) run by /bin/sh in
// its own process group, told where the idle slot is through its environment; its exit code decides.
// At its timeout, or when the release is aborted, the whole group gets SIGTERM, then SIGKILL.
//
// Environment added for the program:
//   CUTOVER_PREVIEW_URL     the router's listener, e.g. http://127.0.0.1:8080
//   CUTOVER_PREVIEW_HEADER  the name of the preview header, e.g. x-cutover-preview
//   CUTOVER_PREVIEW_TOKEN   the value that header must carry to reach the idle slot
//   CUTOVER_SERVICE, CUTOVER_VERSION, CUTOVER_SLOT
//   CUTOVER_TARGETS         the idle slot's targets, comma separated (host:port), to bypass the router
// The daemon's secrets (CUTOVER_TOKEN, webhook signing keys: src/secrets.ts) are removed: a test
// suite has no business with them, and its output is cut of their values before it is kept.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { groupAlive, signalGroup } from '../providers/groups.ts';
import { LineRing, LineSplitter } from '../providers/output.ts';
import { childEnv } from '../secrets.ts';
import { clip, formatMs, redact } from './common.ts';
import type { CommandGate, GateContext, GateResult } from './types.ts';

/** After SIGTERM, the group has this long to exit before SIGKILL. */
export const KILL_GRACE_MS = 2000;
/** The excerpt of output a result keeps: the last lines, each cut, all of it capped. */
export const OUTPUT_LINES = 40;
export const OUTPUT_LINE_CHARS = 400;
export const OUTPUT_MAX_CHARS = 8 * 1024;
/** Once the shell has exited, how long its pipes may stay open (held by something that escaped the group). */
const PIPE_CLOSE_WAIT_MS = 500;

export async function runCommandGate(gate: CommandGate, ctx: GateContext): Promise<GateResult> {
  const started = performance.now();
  const name = `command: ${clip(gate.run, 120)}`;
  const env: NodeJS.ProcessEnv = {
    ...childEnv(),
    CUTOVER_PREVIEW_URL: ctx.previewUrl,
    CUTOVER_PREVIEW_HEADER: ctx.previewHeader,
    CUTOVER_PREVIEW_TOKEN: ctx.previewToken,
    CUTOVER_SERVICE: ctx.service,
    CUTOVER_VERSION: ctx.version,
    CUTOVER_SLOT: ctx.slot,
    CUTOVER_TARGETS: ctx.directTargets.join(','),
  };

  const ring = new LineRing(OUTPUT_LINES);
  let lines = 0;
  const take = (line: string): void => {
    lines++;
    ring.push(clip(line, OUTPUT_LINE_CHARS));
  };
  const finish = (outcome: GateResult['outcome'], summary: string, extra: Record<string, unknown>): GateResult =>
    redact(
      {
        kind: 'command',
        name,
        outcome,
        durationMs: Math.round(performance.now() - started),
        summary,
        details: { ...extra, outputLines: lines, output: excerpt(ring.last()) },
      },
      ctx.previewToken,
    );

  if (ctx.signal?.aborted) return finish('error', 'not run: the release was aborted', { aborted: true });

  const child = spawn('/bin/sh', ['-c', gate.run], { cwd: ctx.cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const pgid = child.pid;
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  if (pgid === undefined) {
    const err = await spawnError;
    return finish('error', `could not start /bin/sh in ${ctx.cwd}: ${err.message}; check that the folder exists`, {});
  }
  ctx.log?.debug('command gate started', { pid: pgid, run: gate.run });

  const out = new LineSplitter();
  const errs = new LineSplitter();
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d: string) => out.push(d).forEach(take));
  child.stderr.on('data', (d: string) => errs.push(d).forEach(take));
  const pipesClosed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );

  let stoppedBy: 'timeout' | 'aborted' | null = null;
  let killing: Promise<boolean> | null = null;
  const stop = (why: 'timeout' | 'aborted'): void => {
    if (stoppedBy !== null) return;
    stoppedBy = why;
    killing = killGroup(pgid, KILL_GRACE_MS);
  };
  const timer = setTimeout(() => stop('timeout'), gate.timeout);
  const onAbort = (): void => stop('aborted');
  ctx.signal?.addEventListener('abort', onAbort, { once: true });

  const exit = await exited;
  clearTimeout(timer);
  ctx.signal?.removeEventListener('abort', onAbort);
  // The shell is gone; whatever it left running in its group (a server started with `&`) goes too.
  const leftovers = killing !== null ? await killing : groupAlive(pgid) ? await killGroup(pgid, KILL_GRACE_MS) : false;
  await Promise.race([pipesClosed, new Promise((r) => setTimeout(r, PIPE_CLOSE_WAIT_MS))]);
  child.stdout.destroy();
  child.stderr.destroy();
  out.flush().forEach(take);
  errs.flush().forEach(take);

  const extra: Record<string, unknown> = { exitCode: exit.code, signal: exit.signal, ...(leftovers ? { killedLeftovers: true } : {}) };
  if (stoppedBy === 'timeout')
    return finish('timeout', `still running after its timeout (${formatMs(gate.timeout)}); killed with its process group`, extra);
  if (stoppedBy === 'aborted')
    return finish('error', 'stopped: the release was aborted; killed with its process group', { ...extra, aborted: true });
  if (exit.code === 0) return finish('passed', `exited with code 0${lastLineNote(ring)}`, extra);
  if (exit.code !== null) return finish('failed', `exited with code ${exit.code}${lastLineNote(ring)}`, extra);
  return finish('failed', `killed by ${exit.signal ?? 'a signal'}${lastLineNote(ring)}`, extra);
}

/**
 * SIGTERM to the group, SIGKILL to whatever is left after `graceMs`; resolves once nothing of the
 * group runs (or a last bounded wait ran out). True when there was something to kill.
 */
export async function killGroup(pgid: number, graceMs: number): Promise<boolean> {
  if (!signalGroup(pgid, 'SIGTERM')) return false;
  if (await gone(pgid, graceMs)) return true;
  signalGroup(pgid, 'SIGKILL');
  await gone(pgid, 2000);
  return true;
}

async function gone(pgid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (!groupAlive(pgid)) return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function excerpt(lines: string[]): string {
  let text = lines.join('\n');
  if (text.length > OUTPUT_MAX_CHARS) text = `…${text.slice(text.length - OUTPUT_MAX_CHARS)}`;
  return text;
}

/** `: <last line of output>`, so the summary says why without opening the details. */
function lastLineNote(ring: LineRing): string {
  const last = ring.last().findLast((l) => l.trim() !== '');
  return last === undefined ? '' : `: ${clip(last.trim(), 160)}`;
}
