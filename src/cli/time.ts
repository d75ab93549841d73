// Times and durations as people read them in the CLI: local time of day with how long ago
// (`14:02:11 (3m ago)`; the date too when it is not today), and durations in human units (`5m`,
// `1.5s`, never `300000 ms`). The dashboard writes them the same way (src/ui/app.js).

/** 300000 -> 5m, 90000 -> 1m30s, 1500 -> 1.5s, 250 -> 250ms. */
export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(abs)}ms`;
  if (abs < 60_000) return `${Math.round(abs / 100) / 10}s`;
  const d = Math.floor(abs / 86_400_000);
  const h = Math.floor((abs % 86_400_000) / 3_600_000);
  const m = Math.floor((abs % 3_600_000) / 60_000);
  const s = Math.floor((abs % 60_000) / 1000);
  if (d > 0) return `${d}d${h ? `${h}h` : ''}`;
  return [h ? `${h}h` : '', m ? `${m}m` : '', s && !h ? `${s}s` : ''].join('') || '0s';
}

/** `3m ago`, `in 4m`, `now`. */
export function relative(ms: number): string {
  if (Math.abs(ms) < 1000) return 'now';
  return ms < 0 ? `${humanDuration(ms)} ago` : `in ${humanDuration(ms)}`;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** `14:02:11 (3m ago)` in this machine's time zone; `2026-11-30 14:02:11 (1d2h ago)` on another day. */
export function localTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  const today = new Date(now);
  const clock = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
  const sameDay = t.getFullYear() === today.getFullYear() && t.getMonth() === today.getMonth() && t.getDate() === today.getDate();
  const day = sameDay ? '' : `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} `;
  return `${day}${clock} (${relative(t.getTime() - now)})`;
}

const ISO_TIME = /\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\b/g;

/** A reason as people read it: milliseconds (`after 300000 ms`) in human units, ISO times (`until 2026-...Z`) local. */
export const humanReason = (text: string, now = Date.now()): string =>
  text.replace(/\b(\d{4,}) ?ms\b/g, (_, n: string) => humanDuration(Number(n))).replace(ISO_TIME, (iso) => localTime(iso, now));
