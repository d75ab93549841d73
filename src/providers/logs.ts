// Where a slot's log lives and how `cutover logs` reads its last lines, across rotated files.
// A line is `<ISO time> [<replica> <out|err|cutover>] <text>`, so lines of both slots merge by sorting.
import { access, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { SlotName } from '../config/types.ts';
import { SLOTS } from '../config/types.ts';

export const LOG_MAX_BYTES = 5 * 1024 * 1024;
/** Files kept per slot, the current one included: `blue.log`, `blue.log.1`, `blue.log.2`. */
export const LOG_FILES = 3;
const READ_CHUNK = 64 * 1024;
/** Rotated files probed at most; far more than any setting keeps. */
const MAX_ROTATED = 100;

export function slotLogPath(stateDir: string, service: string, slot: SlotName): string {
  return join(stateDir, 'logs', service, `${slot}.log`);
}

/** The name of the `generation`-th older file (0 = the current one). */
export function rotatedPath(path: string, generation: number): string {
  return generation === 0 ? path : `${path}.${generation}`;
}

/** The last `n` lines of one file, oldest first; a missing file has none. */
export async function lastLines(file: string, n: number): Promise<string[]> {
  if (n <= 0) return [];
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  try {
    let pos = (await handle.stat()).size;
    const chunks: Buffer[] = [];
    let newlines = 0;
    // Read backwards until the text holds more than n line breaks: then the n lines after the
    // first (possibly partial) one are complete.
    while (pos > 0 && newlines <= n) {
      const len = Math.min(READ_CHUNK, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      const { bytesRead } = await handle.read(buf, 0, len, pos);
      const got = buf.subarray(0, bytesRead);
      chunks.unshift(got);
      for (const byte of got) if (byte === 0x0a) newlines++;
    }
    const lines = Buffer.concat(chunks).toString('utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    if (pos > 0) lines.shift();
    return lines.slice(-n);
  } finally {
    await handle.close();
  }
}

/** The last `n` lines of a slot's log, reaching into rotated files when the current one has fewer. */
export async function tailSlotLog(stateDir: string, service: string, slot: SlotName, n: number): Promise<string[]> {
  const path = slotLogPath(stateDir, service, slot);
  let lines: string[] = [];
  for (let generation = 0; generation <= MAX_ROTATED && lines.length < n; generation++) {
    const file = rotatedPath(path, generation);
    const got = await lastLines(file, n - lines.length);
    if (got.length === 0 && !(await exists(file))) break;
    lines = [...got, ...lines];
  }
  return lines;
}

export interface TailOptions {
  /** One slot, or both merged in time order. */
  slot?: SlotName;
  lines?: number;
}

/** What `cutover logs <service> [--slot]` prints: the last lines of one slot or of both, oldest first. */
export async function tailServiceLogs(stateDir: string, service: string, opts: TailOptions = {}): Promise<string[]> {
  const n = opts.lines ?? 100;
  const slots = opts.slot ? [opts.slot] : SLOTS;
  const all: { slot: SlotName; line: string }[] = [];
  for (const slot of slots) {
    for (const line of await tailSlotLog(stateDir, service, slot, n)) all.push({ slot, line });
  }
  if (slots.length === 1) return all.map((e) => e.line);
  // ISO timestamps sort as text; the stable sort keeps each slot's own order for equal times.
  all.sort((a, b) => (a.line.slice(0, 24) < b.line.slice(0, 24) ? -1 : a.line.slice(0, 24) > b.line.slice(0, 24) ? 1 : 0));
  return all.slice(-n).map((e) => `${e.slot} ${e.line}`);
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
