// Whether a soak's samples of the daemon's memory and file descriptors stayed flat: the start
// (after a warm-up) against the end, with room for the noise a garbage-collected heap makes.

export interface Sample {
  /** Milliseconds since the soak started. */
  at: number;
  rssBytes: number;
  fds: number;
}

export interface Verdict {
  flat: boolean;
  /** Median RSS at the start and at the end of the measured part, and the growth between. */
  rssStart: number;
  rssEnd: number;
  rssGrowth: number;
  fdsStart: number;
  fdsEnd: number;
  reasons: string[];
}

/** What "flat" allows: RSS may grow by the larger of these; fds by this many (a connection or two in flight). */
export const LIMITS = { rssBytes: 32 * 1024 * 1024, rssShare: 0.25, fds: 10 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/**
 * Samples from `warmupMs` on are measured; the median of their first quarter is compared with the
 * median of their last quarter (medians, so a GC pause or a switch in flight does not decide it).
 */
export function judge(samples: Sample[], warmupMs: number, limits = LIMITS): Verdict {
  const measured = samples.filter((s) => s.at >= warmupMs);
  if (measured.length < 8) {
    return {
      flat: false,
      rssStart: 0,
      rssEnd: 0,
      rssGrowth: 0,
      fdsStart: 0,
      fdsEnd: 0,
      reasons: [`only ${measured.length} samples after the warm-up; run longer`],
    };
  }
  const q = Math.max(2, Math.floor(measured.length / 4));
  const first = measured.slice(0, q);
  const last = measured.slice(-q);
  const rssStart = median(first.map((s) => s.rssBytes));
  const rssEnd = median(last.map((s) => s.rssBytes));
  const fdsStart = median(first.map((s) => s.fds));
  const fdsEnd = median(last.map((s) => s.fds));
  const reasons: string[] = [];
  const allowed = Math.max(limits.rssBytes, rssStart * limits.rssShare);
  if (rssEnd - rssStart > allowed) {
    reasons.push(`RSS grew from ${mib(rssStart)} to ${mib(rssEnd)} (more than ${mib(allowed)})`);
  }
  if (fdsEnd - fdsStart > limits.fds) reasons.push(`open file descriptors grew from ${fdsStart} to ${fdsEnd} (more than ${limits.fds})`);
  return { flat: reasons.length === 0, rssStart, rssEnd, rssGrowth: rssEnd - rssStart, fdsStart, fdsEnd, reasons };
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
