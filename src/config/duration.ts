// Durations as people write them in cutover.yaml (`250ms`, `30s`, `1m30s`) to milliseconds and back.
// A bare number is refused: `30` could mean seconds or milliseconds, and guessing wrong is an outage.

/** Longest duration: Node's timers fire at once for anything above 2^31-1 ms (about 24.8 days). */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** For editors (JSON Schema `pattern`): one or more number+unit parts. */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
const UNIT_ORDER = ['h', 'm', 's', 'ms'];
const PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/y;
const HINT = 'like 30s, 250ms or 1m30s';

/**
 * Milliseconds in a duration string. Throws a RangeError whose message says what to write instead;
 * the config schema shows that message to the user as it is.
 */
export function parseDuration(input: unknown): number {
  if (typeof input === 'number') {
    throw new RangeError(`write a duration with its unit, like ${input}s or ${input}ms (a bare number is ambiguous)`);
  }
  if (typeof input !== 'string') throw new RangeError(`expected a duration ${HINT}`);
  const text = input.trim();
  if (text === '') throw new RangeError(`expected a duration ${HINT}, got an empty string`);
  if (/^[0-9]+(\.[0-9]+)?$/.test(text)) {
    throw new RangeError(`write a duration with its unit, like ${text}s or ${text}ms (a bare number is ambiguous)`);
  }
  let ms = 0;
  let last = -1;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const m = PART.exec(text);
    if (!m) {
      throw new RangeError(`\`${text}\` is not a duration; write one ${HINT} (units: ms, s, m, h)`);
    }
    const unit = m[2] as string;
    const rank = UNIT_ORDER.indexOf(unit);
    if (rank <= last) {
      throw new RangeError(`\`${text}\` is not a duration; write its parts largest unit first, each once, like 1h30m or 1m30s`);
    }
    last = rank;
    ms += Number(m[1]) * (UNIT_MS[unit] as number);
  }
  ms = Math.round(ms);
  if (ms > MAX_DURATION_MS) throw new RangeError(`\`${text}\` is too long; durations are at most 596h`);
  return ms;
}

/** The shortest string parseDuration reads back as `ms` (90000 → `1m30s`, 0 → `0s`). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`cannot format ${ms} as a duration`);
  let rest = Math.round(ms);
  if (rest === 0) return '0s';
  let out = '';
  for (const unit of UNIT_ORDER) {
    const size = UNIT_MS[unit] as number;
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
