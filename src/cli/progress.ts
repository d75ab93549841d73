// Live progress of a release in a terminal: the phases as a checklist with their timings and a spinner
// on the running one, redrawn in place. Colours only when the terminal takes them and NO_COLOR is unset.
import type { ReleaseStatus } from '../api/types.ts';
import { humanDuration, humanReason } from './time.ts';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const PATH = ['pending', 'provisioning', 'verifying', 'awaiting-approval', 'shifting', 'observing', 'promoted'] as const;
const ENDS = new Set(['failed', 'aborted', 'rolled-back']);

export interface Styles {
  ok: (s: string) => string;
  bad: (s: string) => string;
  dim: (s: string) => string;
}

export function styles(stream: NodeJS.WriteStream): Styles {
  const on = stream.isTTY === true && process.env.NO_COLOR === undefined && stream.hasColors?.() !== false;
  const wrap = (code: number) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { ok: wrap(32), bad: wrap(31), dim: wrap(2) };
}

/** The checklist for one moment of a release: one line per phase it went through or will go through. */
export function checklist(r: ReleaseStatus, now: number, frame: number, st: Styles): string[] {
  const phases = r.events.filter((e) => e.type === 'phase');
  const entered = new Map<string, number>();
  for (const e of phases) if (e.phase && !entered.has(e.phase)) entered.set(e.phase, Date.parse(e.time));
  const start = Date.parse(phases[0]?.time ?? r.createdAt);
  const path: string[] = PATH.filter((p) => p !== 'awaiting-approval' || entered.has(p));
  if (ENDS.has(r.phase) || r.phase === 'retired') path.push(r.phase);
  const lines: string[] = [];
  for (const p of path) {
    const at = entered.get(p);
    const ended = ENDS.has(r.phase) && at === undefined && p !== r.phase;
    if (ended) continue; // phases the release never reached
    let mark = ' ';
    let time = '';
    if (at !== undefined) {
      const next = [...entered.entries()].find(([, t]) => t > at)?.[1];
      const until = p === r.phase ? (ENDS.has(p) || p === 'promoted' || p === 'retired' ? at : now) : (next ?? at);
      time = took(until - at);
      if (p === r.phase && !ENDS.has(p) && p !== 'promoted' && p !== 'retired') mark = FRAMES[frame % FRAMES.length]!;
      else if (ENDS.has(p)) mark = st.bad('✖');
      else mark = st.ok('✔');
    }
    const reason = p === r.phase ? humanReason((r.reason ?? '').split('\n')[0] ?? '') : '';
    const step = p === r.phase && r.step ? `${stepText(r.step)}  ` : '';
    lines.push(`  ${mark} ${p.padEnd(18)}${time.padStart(7)}  ${step}${st.dim(reason.slice(0, 100))}`);
  }
  lines.push(st.dim(`  ${took(now - start)} since the release started`));
  return lines;
}

/** A phase's time: tenths of a second while it is short (the checklist ticks), then `5m12s`. */
const took = (ms: number): string => (ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : humanDuration(ms));

/** `step 1 of 2 (20%)`: where a progressive shift stands. */
export const stepText = (s: NonNullable<ReleaseStatus['step']>): string => `step ${s.step} of ${s.of} (${s.percent}%)`;

/** Redraws the checklist in place (cursor up over the previous drawing). */
export class LiveChecklist {
  private drawn = 0;
  private frame = 0;
  private readonly out: NodeJS.WriteStream;
  private readonly st: Styles;
  constructor(out: NodeJS.WriteStream) {
    this.out = out;
    this.st = styles(out);
  }
  /** `extra`: lines under the checklist (why the release holds and what to run). */
  draw(r: ReleaseStatus, extra: string[] = []): void {
    const lines = [...checklist(r, Date.now(), this.frame++, this.st), ...extra.map((l) => this.st.bad(`  ${l}`))];
    let s = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const l of lines) s += `\x1b[2K${l}\n`;
    this.out.write(s);
    this.drawn = lines.length;
  }
}
