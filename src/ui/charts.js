// Small SVG line charts for the dashboard: no library, no build step. One chart is one <svg> with
// a few grid lines, one path per series (gaps where a value is missing), a legend of last values, and
// a vertical line with a label at every switch and rollback (marks).
const NS = 'http://www.w3.org/2000/svg';

function el(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Mark labels: about this wide per character (9px text), on at most this many rows. */
const MARK_CHAR = 5;
const MARK_ROWS = 4;

/** A "nice" upper bound for the y axis: 1, 2 or 5 times a power of ten, at least `floor`. */
function niceMax(v, floor) {
  const m = Math.max(v, floor);
  const p = 10 ** Math.floor(Math.log10(m));
  for (const f of [1, 2, 5, 10]) if (f * p >= m) return f * p;
  return 10 * p;
}

/**
 * series: [{ name, className, values: [[t, v|null], ...] }]; spanMs: the time shown, ending now;
 * format(v): the label of a value; floor: the smallest y range (so a flat zero is not all noise);
 * marks: [{ t, kind: 'switch'|'rollback', label, slot }], drawn where they fall inside the span.
 */
export function lineChart({ title, series, spanMs, now = Date.now(), format, floor = 1, marks = [] }) {
  const W = 320;
  const H = 120;
  const L = 44;
  const R = 6;
  const T = 8;
  const B = 18;
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values.map(([, v]) => (v === null ? 0 : v)))), floor);
  const x = (t) => L + ((t - (now - spanMs)) / spanMs) * (W - L - R);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title });
  for (const f of [0, 0.5, 1]) {
    svg.append(el('line', { x1: L, x2: W - R, y1: y(max * f), y2: y(max * f), class: 'grid' }));
    svg.append(el('text', { x: L - 4, y: y(max * f) + 3, class: 'axis', 'text-anchor': 'end' }, format(max * f)));
  }
  svg.append(
    el(
      'text',
      { x: L, y: H - 4, class: 'axis' },
      spanMs >= 120_000 ? `-${Math.round(spanMs / 60000)} min` : `-${Math.round(spanMs / 1000)} s`,
    ),
  );
  svg.append(el('text', { x: W - R, y: H - 4, class: 'axis', 'text-anchor': 'end' }, 'now'));
  // A label goes right of its line (left near the right edge), on the first row where it overlaps no
  // other label, so switches close together stay readable; the last row takes what is left.
  const rows = [];
  for (const m of marks) {
    if (m.t < now - spanMs || m.t > now) continue;
    const mx = x(m.t);
    const g = el('g', { class: `mark ${m.kind}${m.slot ? ` slot-${m.slot}` : ''}`, 'data-kind': m.kind });
    g.append(el('line', { x1: mx, x2: mx, y1: T, y2: H - B }));
    const width = m.label.length * MARK_CHAR + 6;
    const right = mx + width > W - R;
    const span = right ? [mx - width, mx] : [mx, mx + width];
    let row = rows.findIndex((taken) => taken.every(([a, b]) => span[1] <= a || span[0] >= b));
    if (row < 0) row = rows.length < MARK_ROWS ? rows.length : MARK_ROWS - 1;
    (rows[row] ??= []).push(span);
    const ty = T + 8 + row * 10;
    g.append(el('text', { x: right ? mx - 3 : mx + 3, y: ty, 'text-anchor': right ? 'end' : 'start' }, m.label));
    g.append(el('title', {}, `${m.label} at ${new Date(m.t).toLocaleTimeString([], { hour12: false })}`));
    svg.append(g);
  }
  for (const s of series) {
    let d = '';
    let pen = false;
    for (const [t, v] of s.values) {
      if (t < now - spanMs || v === null || !Number.isFinite(v)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(Math.min(v, max)).toFixed(1)}`;
      pen = true;
    }
    if (d) svg.append(el('path', { d, class: `line ${s.className}` }));
  }
  return svg;
}
