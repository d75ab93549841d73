// Runs the project's own migration commands (expand before the new slot starts, contract once the old
// slot is retired) and the lint that guards expand. A command runs under /bin/sh in its own process
// group, so a timeout or an abort stops it together with whatever it started (npm -> node -> psql).
import { spawn } from 'node:child_process';
import { signalGroup } from '../providers/groups.ts';
import { MigrationSetupError, MigrationUnsafeError } from './errors.ts';
import { lintFiles, type FilesLintResult } from './lint.ts';
import { childEnv, redactText } from '../secrets.ts';

export type MigrationKind = 'expand' | 'contract';

/** Output beyond this is cut from the front: the end of a failed migration says what went wrong. */
export const MAX_OUTPUT_BYTES = 64 * 1024;
/** After SIGTERM at a timeout or abort, SIGKILL follows this much later. */
export const KILL_GRACE_MS = 5_000;
/** After the shell exits, how long its pipes may stay open (held by something it left running). */
const CLOSE_GRACE_MS = 1_000;

export interface RunOptions {
  cwd: string;
  /** The command's environment; default cutover's own. */
  env?: NodeJS.ProcessEnv;
  /** migrations.database: the variable that carries the connection URL to the command. */
  databaseEnvName?: string;
  /** The URL to put in that variable; without it the variable must already be set in `env`. */
  databaseUrl?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  maxOutputBytes?: number;
  killGraceMs?: number;
}

export interface MigrationResult {
  kind: MigrationKind;
  command: string;
  ok: boolean;
  /** null when the command was killed by a signal (or never started because the abort came first). */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  /** stdout and stderr interleaved as they came, at most maxOutputBytes (the end is kept). */
  output: string;
  truncated: boolean;
  durationMs: number;
}

/**
 * Runs one migration command to its end, or until `timeoutMs` or `signal`, and says how it went.
 * It throws only when the command cannot be started as configured (MigrationSetupError).
 */
export async function runMigration(kind: MigrationKind, command: string, opts: RunOptions): Promise<MigrationResult> {
  // The daemon's secrets (src/secrets.ts) stay with the daemon; the database URL is the migration's.
  const env: NodeJS.ProcessEnv = { ...childEnv(opts.env ?? process.env), CUTOVER_MIGRATION: kind };
  if (opts.databaseEnvName !== undefined) {
    if (opts.databaseUrl !== undefined) env[opts.databaseEnvName] = opts.databaseUrl;
    else if (!env[opts.databaseEnvName]) {
      throw new MigrationSetupError(
        `migrations.database names ${opts.databaseEnvName}, but ${opts.databaseEnvName} is not set in cutover's environment; ` +
          `set it to the database's connection URL (postgres://user@host/db) before starting cutover`,
      );
    }
  }
  const started = performance.now();
  const output = new OutputTail(opts.maxOutputBytes ?? MAX_OUTPUT_BYTES);
  const result = (over: Partial<MigrationResult>): MigrationResult => ({
    kind,
    command,
    ok: false,
    exitCode: null,
    signal: null,
    timedOut: false,
    aborted: false,
    // Kept in the release's events, which viewers read: cut of the daemon's secrets.
    output: redactText(output.text()),
    truncated: output.truncated,
    durationMs: Math.round(performance.now() - started),
    ...over,
  });
  if (opts.signal?.aborted) return result({ aborted: true });

  const child = spawn('/bin/sh', ['-c', command], { cwd: opts.cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (c: Buffer) => output.push(c));
  child.stderr.on('data', (c: Buffer) => output.push(c));

  let timedOut = false;
  let aborted = false;
  let killTimer: NodeJS.Timeout | undefined;
  const stop = (): void => {
    if (child.pid === undefined || killTimer) return;
    signalGroup(child.pid, 'SIGTERM');
    killTimer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), opts.killGraceMs ?? KILL_GRACE_MS);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, opts.timeoutMs);
  const onAbort = (): void => {
    aborted = true;
    stop();
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', (err) =>
        reject(
          new MigrationSetupError(
            `cannot run the ${kind} migration \`${command}\` in ${opts.cwd}: ${err.message}; check that the folder exists`,
            { cause: err },
          ),
        ),
      );
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    await closed(child.stdout, child.stderr, child.pid!);
    const ok = exit.code === 0 && !timedOut && !aborted;
    const why = timedOut
      ? `stopped after ${opts.timeoutMs} ms; raise the timeout or make the migration faster`
      : aborted
        ? 'stopped: the release was aborted'
        : undefined;
    return result({
      ok,
      exitCode: exit.code,
      signal: exit.signal,
      timedOut,
      aborted,
      ...(why ? { output: redactText(withNote(output.text(), why)) } : {}),
    });
  } finally {
    clearTimeout(timer);
    clearTimeout(killTimer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Lints the expand files and refuses (MigrationUnsafeError) when any statement would break the live
 * version; nothing runs in that case. Returns the warnings and the annotated statements let through,
 * which the release records.
 */
export async function lintBeforeExpand(pattern: string, cwd: string): Promise<FilesLintResult> {
  const result = await lintFiles(pattern, cwd);
  if (result.findings.some((f) => f.severity === 'error')) throw new MigrationUnsafeError(result.findings);
  return result;
}

/** Waits for both pipes to close; what the shell left running and holds them open is killed. */
async function closed(out: NodeJS.ReadableStream, err: NodeJS.ReadableStream, pgid: number): Promise<void> {
  const ends = Promise.all(
    [out, err].map(
      (s) =>
        new Promise<void>((resolve) => {
          const r = s as NodeJS.ReadableStream & { readableEnded?: boolean; destroyed?: boolean };
          if (r.readableEnded || r.destroyed) resolve();
          else s.once('close', () => resolve());
        }),
    ),
  );
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), CLOSE_GRACE_MS)));
  if ((await Promise.race([ends, late])) === 'late') {
    signalGroup(pgid, 'SIGKILL');
    await Promise.race([ends, new Promise((r) => setTimeout(r, CLOSE_GRACE_MS))]);
  }
  clearTimeout(timer);
}

function withNote(text: string, note: string): string {
  return `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}[cutover: ${note}]\n`;
}

/** The last `max` bytes of a stream of chunks. */
class OutputTail {
  readonly max: number;
  truncated = false;
  #chunks: Buffer[] = [];
  #size = 0;

  constructor(max: number) {
    this.max = max;
  }

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    while (this.#size > this.max && this.#chunks.length > 0) {
      const first = this.#chunks[0]!;
      const over = this.#size - this.max;
      this.truncated = true;
      if (first.length <= over) {
        this.#chunks.shift();
        this.#size -= first.length;
      } else {
        this.#chunks[0] = first.subarray(over);
        this.#size -= over;
      }
    }
  }

  text(): string {
    const body = Buffer.concat(this.#chunks).toString('utf8');
    return this.truncated ? `[cutover: earlier output cut; the last ${this.max} bytes follow]\n${body}` : body;
  }
}
