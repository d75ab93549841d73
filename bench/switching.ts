// Switches a target back and forth between blue and green at a fixed pace until a deadline,
// while wrk runs against it; counts the switches done, the ones that failed, and how long each took.
import { sleep } from './proc.ts';
import type { Slot, Target } from './target.ts';

export interface SwitchStats {
  switches: number;
  switchErrors: number;
  firstError?: string;
  /** How long one switch took to be acknowledged (for cutover: every worker serves it). */
  p50Ms: number;
  maxMs: number;
}

export async function switchUntil(target: Target, deadline: number): Promise<SwitchStats> {
  const every = target.switchEveryMs ?? 1000;
  const switchTo = target.switchTo;
  if (!switchTo) throw new Error(`${target.name} cannot switch`);
  const maxSwitches = Math.ceil((deadline - Date.now()) / every) + 1;
  const took: number[] = [];
  let switchErrors = 0;
  let firstError: string | undefined;
  let slot: Slot = 'green';
  const start = Date.now();
  for (let i = 1; i <= maxSwitches && Date.now() < deadline; i++) {
    const t0 = performance.now();
    try {
      await switchTo(slot);
      took.push(performance.now() - t0);
      slot = slot === 'green' ? 'blue' : 'green';
    } catch (err) {
      switchErrors++;
      firstError ??= (err as Error).message;
    }
    const next = start + i * every;
    const wait = Math.min(next, deadline) - Date.now();
    if (wait > 0) await sleep(wait);
  }
  took.sort((a, b) => a - b);
  return {
    switches: took.length,
    switchErrors,
    ...(firstError !== undefined && { firstError }),
    p50Ms: took[Math.floor(took.length / 2)] ?? 0,
    maxMs: took.at(-1) ?? 0,
  };
}
