// nginx: cutover owns one file that holds `upstream <name> { ... }` (nginx.conf includes it inside
// `http {}`), writes it atomically (a temp file renamed over it, so nginx never reads half a file),
// runs the check command (`nginx -t`), then the reload command, and puts the old file back if
// either fails. Open-source nginx has no API to read its running upstreams, so `observe` reports the file
// as written and reloaded. A reload makes the old workers close their keep-alive connections, and a
// request sent on one at that moment fails: nginx switches are not lossless (see README, "nginx").
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { NginxTraffic, SlotName } from '../config/types.ts';
import { SLOTS } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { intendedWeights } from './drift.ts';
import { trafficRefused, trafficUnreachable, type ObservedTraffic, type TrafficAdapter, type TrafficState } from './types.ts';

const KIND = 'nginx';
/** The check and reload commands must end within this. */
const COMMAND_TIMEOUT_MS = 30_000;
/** nginx needs a server in an upstream; before any slot is live this one answers 502 at once. */
const NOWHERE = '127.0.0.1:9';
export const NGINX_NOTE = 'a switch reloads nginx, which may drop in-flight keep-alive requests (at most one per open client connection)';

export interface NginxAdapterOptions {
  log: Logger;
}

export class NginxAdapter implements TrafficAdapter {
  readonly kind = KIND;
  readonly capabilities = { lossless: false, weighted: true, eventual: false };
  readonly #cfg: NginxTraffic;
  readonly #log: Logger;
  #busy: Promise<void> = Promise.resolve();
  #reloads = 0;

  constructor(cfg: NginxTraffic, opts: NginxAdapterOptions) {
    this.#cfg = cfg;
    this.#log = opts.log.child({ traffic: KIND, upstream: cfg.upstream });
  }

  apply(state: TrafficState): Promise<void> {
    const run = () => this.#apply(state);
    const p = this.#busy.then(run, run);
    this.#busy = p.catch(() => {});
    return p;
  }

  async #apply(state: TrafficState): Promise<void> {
    const file = this.#cfg.upstreamFile;
    const text = upstreamBlock(this.#cfg.upstream, state);
    const before = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw trafficRefused(KIND, `cannot read ${file} (${err.message}); cutover needs to write it`, err);
    });
    // Same servers and weights: nothing to reload (only the generation line differs).
    if (before !== null && sameBlock(before, text)) return;
    await writeAtomically(file, text);
    const check = await this.#run(this.#cfg.check);
    if (check.error) {
      if (before === null) await rm(file, { force: true });
      else await writeAtomically(file, before);
      throw trafficRefused(KIND, `${this.#cfg.check.join(' ')} refused the new upstream file (${check.output}); the old file is back`);
    }
    const reload = await this.#run(this.#cfg.reload);
    if (reload.error) {
      // The old file goes back too: an nginx started later must not serve a switch cutover did not record.
      if (before === null) await rm(file, { force: true });
      else await writeAtomically(file, before);
      const down = /pid|no such process|not running|ENOENT/i.test(`${reload.output} ${reload.error.message}`);
      const msg = `${this.#cfg.reload.join(' ')} failed (${reload.output}); ${down ? 'is nginx running?' : 'see the nginx error log'}`;
      throw down ? trafficUnreachable(KIND, msg, reload.error) : trafficRefused(KIND, msg, reload.error);
    }
    this.#reloads++;
    this.#log.info('nginx reloaded', { generation: state.generation, file });
  }

  async observe(): Promise<ObservedTraffic> {
    const file = this.#cfg.upstreamFile;
    const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw trafficUnreachable(KIND, `cannot read ${file} (${err.message})`, err);
    });
    const targets: Record<SlotName, string[]> = { blue: [], green: [] };
    const sums = { blue: 0, green: 0 };
    for (const m of text.matchAll(/^\s*server\s+(\S+?)(?:\s+weight=(\d+))?\s*;\s*#\s*(blue|green)\s*$/gm)) {
      const slot = m[3] as SlotName;
      targets[slot].push(m[1] as string);
      sums[slot] += Number(m[2] ?? 1);
    }
    const total = sums.blue + sums.green;
    const weights = total === 0 ? { blue: 0, green: 0 } : { blue: (100 * sums.blue) / total, green: (100 * sums.green) / total };
    const generation = text.match(/generation (\d+)/)?.[1] ?? '?';
    return {
      weights,
      targets,
      detail: `upstream ${this.#cfg.upstream} in ${file} (generation ${generation}): blue ${targets.blue.length} server(s), green ${targets.green.length} server(s); ${this.#reloads} reload(s) by this controller`,
      notes: [NGINX_NOTE, 'open-source nginx cannot be asked for its running upstreams: this is the file cutover wrote and nginx reloaded'],
    };
  }

  async close(): Promise<void> {
    await this.#busy;
  }

  #run(argv: string[]): Promise<{ error: Error | null; output: string }> {
    const [cmd, ...args] = argv as [string, ...string[]];
    return new Promise((resolve) => {
      execFile(cmd, args, { timeout: COMMAND_TIMEOUT_MS }, (error, stdout, stderr) => {
        const output = `${stdout}${stderr}`.trim().split('\n').slice(-3).join(' / ') || (error?.message ?? '');
        resolve({ error, output });
      });
    });
  }
}

/**
 * The upstream block for `state`: the slots that get traffic, each server with its share as an
 * integer weight (nginx takes 1 and up), the slot named in a comment so the file reads back.
 */
export function upstreamBlock(name: string, state: TrafficState): string {
  const want = intendedWeights(state);
  const lines: string[] = [];
  for (const slot of SLOTS) {
    const targets = state.slots[slot].targets;
    if (want[slot] <= 0 || targets.length === 0) continue;
    const weight = Math.max(1, Math.round(want[slot] / targets.length));
    for (const t of targets) lines.push(`    server ${t}${weight === 1 ? '' : ` weight=${weight}`}; # ${slot}`);
  }
  if (lines.length === 0) lines.push(`    server ${NOWHERE} down; # no slot is live yet`);
  return [
    `# Written by cutover (generation ${state.generation}); it is rewritten at every switch, so edit cutover.yaml instead.`,
    `upstream ${name} {`,
    ...lines,
    // Idle connections to the upstream are reused instead of opened per request; the server block needs
    // proxy_http_version 1.1 and proxy_set_header Connection "" for them (see README).
    '    keepalive 32;',
    '}',
    '',
  ].join('\n');
}

const sameBlock = (a: string, b: string): boolean => a.split('\n').slice(1).join('\n') === b.split('\n').slice(1).join('\n');

async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw trafficRefused(KIND, `cannot write ${file} (${(err as Error).message}); cutover needs write access to it`, err);
  }
}
