// The cutover dashboard: signs in with an API token (kept in this tab's sessionStorage only), shows
// every service's live slot, weights, target health, current release as a timeline, per-slot
// traffic charts and history, and offers promote/rollback/abort to the roles allowed to use them.
// Live updates come from the API's server-sent events; nothing is loaded from anywhere else.
import { lineChart } from './charts.js';

const TOKEN_KEY = 'cutover.token';
const RANK = { viewer: 1, deployer: 2, admin: 3 };
const HAPPY = ['pending', 'provisioning', 'verifying', 'awaiting-approval', 'shifting', 'observing', 'promoted', 'retired'];
const BAD = ['failed', 'aborted', 'rolled-back'];
const BEFORE_TRAFFIC = ['pending', 'provisioning', 'verifying', 'awaiting-approval'];
/** The charts show the last minute at first, growing to five as samples come in. */
const CHART_SPAN = { min: 60_000, max: 5 * 60_000 };
const POLL = 5000;
const TRAFFIC_POLL = 1000;

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem(TOKEN_KEY);
let me = null;
let stream = null;
const cards = new Map();
const refreshing = new Map();

/** One element: h('div', { class: 'x', onclick: fn }, child, 'text', ...). */
function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat())
    if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    if (res.status === 401) signOut('Your token is not accepted any more (revoked?). Sign in again.');
    throw new ApiError(res.status, json.error?.code ?? 'HTTP', json.error?.message ?? `HTTP ${res.status}`);
  }
  return json;
}

// ---- sign-in ------------------------------------------------------------------------------------

async function signIn(candidate) {
  token = candidate;
  try {
    me = await api('GET', '/whoami');
  } catch (err) {
    token = null;
    me = null;
    throw err;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $('sign-in').hidden = true;
  $('who').hidden = false;
  $('who-name').textContent = me.name;
  $('who-role').textContent = me.role;
  await loadServices();
  follow();
}

function signOut(message = '') {
  sessionStorage.removeItem(TOKEN_KEY);
  token = null;
  me = null;
  stream?.abort();
  stream = null;
  cards.clear();
  $('services').replaceChildren();
  $('who').hidden = true;
  $('sign-in').hidden = false;
  $('sign-in-error').textContent = message;
  $('token').value = '';
}

$('sign-in-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('sign-in-error').textContent = '';
  try {
    await signIn($('token').value.trim());
  } catch (err) {
    $('sign-in-error').textContent = err.status === 401 ? 'That token is not accepted: check it, or ask an admin for one.' : err.message;
  }
});
$('sign-out').addEventListener('click', () => signOut());

function banner(message) {
  $('banner').textContent = message;
  $('banner').hidden = !message;
}

// ---- services -----------------------------------------------------------------------------------

async function loadServices() {
  const list = await api('GET', '/services');
  const root = $('services');
  for (const s of list) {
    if (!cards.has(s.service)) {
      const card = {
        name: s.service,
        el: h('article', { class: 'service', 'data-service': s.service }),
        status: null,
        releases: [],
        audit: [],
        traffic: [],
        marks: [],
      };
      cards.set(s.service, card);
      root.append(card.el);
    }
    const card = cards.get(s.service);
    card.status = s;
    await loadHistory(card);
    render(card);
  }
  for (const card of cards.values()) void loadTraffic(card);
}

async function refresh(name, withHistory) {
  const card = cards.get(name);
  if (!card || refreshing.get(name)) return;
  refreshing.set(name, true);
  try {
    card.status = await api('GET', `/services/${encodeURIComponent(name)}`);
    if (withHistory) await loadHistory(card);
    render(card);
  } catch (err) {
    if (token) banner(err.message);
  } finally {
    refreshing.set(name, false);
  }
}

async function loadHistory(card) {
  const n = encodeURIComponent(card.name);
  [card.releases, card.audit] = await Promise.all([api('GET', `/services/${n}/releases`), api('GET', `/services/${n}/audit?limit=10`)]);
}

async function loadTraffic(card) {
  try {
    const answer = await api('GET', `/services/${encodeURIComponent(card.name)}/traffic`);
    card.traffic = answer.points;
    card.marks = answer.marks ?? [];
    renderCharts(card);
  } catch {
    // The next poll tries again.
  }
}

// ---- rendering ----------------------------------------------------------------------------------

/** Local time of day, with how long ago (or how far ahead) in words: `14:02:07 (3m ago)`. */
function time(iso) {
  if (!iso) return '';
  const t = new Date(iso);
  return `${t.toLocaleTimeString([], { hour12: false })} (${ago(t.getTime() - Date.now())})`;
}
function ago(ms) {
  const abs = Math.abs(ms);
  const text = abs < 1000 ? 'now' : human(abs);
  return abs < 1000 ? text : ms < 0 ? `${text} ago` : `in ${text}`;
}
/** 300000 -> 5m, 90000 -> 1m30s, 1500 -> 1.5s. */
function human(ms) {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Math.round(ms / 100) / 10}s`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const sec = Math.floor((ms % 60_000) / 1000);
  return [h ? `${h}h` : '', m ? `${m}m` : '', sec && !h ? `${sec}s` : ''].join('') || '0s';
}
/** A reason as people read it: milliseconds in human units, ISO times local (as the CLI writes them). */
const humanReason = (text) =>
  text
    .replace(/\b(\d{4,}) ?ms\b/g, (_, n) => human(Number(n)))
    .replace(/\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\b/g, (iso) => time(iso));
const pct = (v) => `${Math.round(v * 10) / 10}%`;
/** `step 1 of 2 (20%)`, as `cutover status` and `deploy --wait` write it. */
const stepText = (s) => `step ${s.step} of ${s.of} (${s.percent}%)`;

function render(card) {
  const s = card.status;
  const release = s.release;
  const live = s.live ?? 'none';
  card.el.classList.toggle('held', Boolean(s.maintenance || s.paused));
  card.el.replaceChildren(
    h(
      'header',
      {},
      h('h2', {}, s.service),
      h('span', { class: 'listen' }, s.listen),
      h(
        'span',
        { class: `live-slot slot-${live}`, 'data-testid': 'live-slot', 'data-slot': live },
        s.live ? `live: ${s.live}` : 'no live slot yet',
      ),
      h('span', { class: 'muted' }, `generation ${s.generation}`),
      s.maintenance ? h('span', { class: 'tag held', 'data-testid': 'held-tag' }, 'maintenance') : null,
      s.paused ? h('span', { class: 'tag held', 'data-testid': 'paused-tag' }, 'paused') : null,
    ),
    heldBox(s),
    h('div', { class: 'slots' }, slotBox(s, 'blue'), slotBox(s, 'green')),
    trafficBox(s),
    parityBox(s),
    release ? releaseBox(card, release) : h('p', { class: 'muted' }, `No release yet: cutover deploy ${s.service} <version>`),
    h('div', { class: 'charts', 'data-charts': '' }),
    historyBox(card),
  );
  renderCharts(card);
}

/** Maintenance and pause, as `cutover status` says them: users do not reach the live slot now, and what ends it. */
function heldBox(s) {
  if (!s.maintenance && !s.paused) return null;
  return h(
    'div',
    { class: 'held-note', role: 'status', 'data-testid': 'held' },
    s.maintenance
      ? h(
          'p',
          { 'data-testid': 'maintenance' },
          h('strong', {}, 'Maintenance: '),
          `users get the maintenance page (503)${s.maintenance.message === null ? '' : `: “${s.maintenance.message}”`}. `,
          h('code', {}, `cutover maintenance ${s.service} off`),
          ' ends it.',
        )
      : null,
    s.paused
      ? h(
          'p',
          { 'data-testid': 'paused' },
          h('strong', {}, 'Paused: '),
          `new requests wait up to ${human(s.paused.timeout)}${s.maintenance ? ' once maintenance is off' : ''}, then get 503. `,
          h('code', {}, `cutover resume ${s.service}`),
          ' lets them through.',
        )
      : null,
  );
}

/** What a slot does now, in words: live, taking part of the traffic, being provisioned, standby, idle. */
function roleOf(s, slot) {
  const r = s.release;
  if (s.live === slot && s.weights[slot] === 100) return 'live';
  if (s.weights[slot] > 0) return `takes ${s.weights[slot]}%`;
  if (r && r.slot === slot && BEFORE_TRAFFIC.includes(r.phase)) return `${r.phase} ${r.version}`;
  if (r && r.fromSlot === slot && ['promoted', 'observing', 'shifting'].includes(r.phase)) return 'standby';
  return 'idle';
}

function slotBox(s, slot) {
  const d = s.slots[slot];
  const role = roleOf(s, slot);
  return h(
    'section',
    { class: `slot slot-${slot} ${role.split(' ')[0]}`, 'data-slot': slot },
    h('h3', {}, slot, ' ', h('span', { class: 'tag', 'data-testid': `role-${slot}` }, role)),
    h('div', { class: 'weight' }, h('meter', { min: 0, max: 100, value: s.weights[slot] }), ` ${s.weights[slot]}%`),
    h('p', {}, 'version ', h('strong', {}, d.version ?? '-')),
    d.targets.length === 0
      ? h('p', { class: 'muted' }, 'no targets')
      : h(
          'ul',
          { class: 'targets' },
          d.targets.map((t) =>
            h(
              'li',
              { 'data-healthy': String(t.healthy) },
              h('span', { class: `dot ${t.healthy ? 'ok' : 'bad'}`, title: t.healthy ? 'healthy' : (t.lastError ?? 'unhealthy') }),
              t.address,
              t.healthy ? '' : h('span', { class: 'muted' }, ` ${t.lastError ?? 'not healthy yet'}`),
            ),
          ),
        ),
  );
}

/**
 * What moves the traffic, as `cutover status` shows it: the adapter and what it can do, what the
 * balancer reports now (read back from it), and whether that agrees with the route table (drift).
 */
function trafficBox(s) {
  const t = s.traffic;
  if (!t) return null;
  const can = [t.capabilities.lossless ? 'lossless' : 'not lossless', t.capabilities.weighted ? 'weighted' : 'not weighted'];
  if (t.capabilities.eventual) can.push('eventual');
  const state = t.error ? 'unreachable' : t.drift.length > 0 ? 'drift' : t.observed ? 'agrees' : 'own';
  const verdict = {
    unreachable: h('span', { class: 'tag bad', 'data-testid': 'traffic-state' }, 'unreachable'),
    drift: h('span', { class: 'tag bad', 'data-testid': 'traffic-state' }, 'drift'),
    agrees: h('span', { class: 'tag ok', 'data-testid': 'traffic-state' }, 'agrees with the route table'),
    own: null,
  }[state];
  return h(
    'section',
    { class: `traffic ${state}`, 'data-testid': 'traffic', 'data-kind': t.kind },
    h(
      'p',
      {},
      h('strong', {}, 'traffic '),
      h('span', { 'data-testid': 'traffic-kind' }, t.kind),
      h('span', { class: 'muted' }, ` (${can.join(', ')})`),
      ' ',
      verdict,
    ),
    t.observed
      ? h(
          'p',
          { 'data-testid': 'traffic-observed' },
          'the balancer reports: ',
          t.observed.detail,
          t.observedAt ? h('span', { class: 'muted' }, ` · ${time(t.observedAt)}`) : null,
        )
      : null,
    t.error ? h('p', { class: 'error', 'data-testid': 'traffic-error' }, `unreachable or refusing: ${t.error}`) : null,
    t.drift.length > 0
      ? h(
          'div',
          { class: 'drift', role: 'status', 'data-testid': 'traffic-drift' },
          h('strong', {}, 'Drift: the balancer does not serve the route table. '),
          `Switching again applies it: cutover switch ${s.service} ${s.live ?? 'blue|green'}`,
          h(
            'ul',
            {},
            t.drift.map((d) => h('li', {}, d)),
          ),
        )
      : null,
    (t.observed?.notes ?? []).length > 0
      ? h(
          'ul',
          { class: 'notes muted' },
          t.observed.notes.map((n) => h('li', {}, `note: ${n}`)),
        )
      : null,
  );
}

/** What differs between the slots besides the version (`cutover parity`): one line, or every difference. */
function parityBox(s) {
  const p = s.parity;
  if (!p) return null;
  const drift = p.compared && p.differences.length > 0;
  return h(
    'section',
    { class: `parity${drift ? ' drift' : ''}`, 'data-testid': 'parity' },
    h('strong', {}, 'parity '),
    !p.compared
      ? h('span', { class: 'muted' }, p.note ?? 'nothing compared')
      : !drift
        ? 'blue and green differ only in their version'
        : [
            `blue and green differ besides their version${p.strict ? ' (parity.strict: a switch is refused)' : ''}:`,
            h(
              'ul',
              {},
              p.differences.map((d) => h('li', {}, d.text)),
            ),
          ],
  );
}

function releaseBox(card, r) {
  const entered = new Map();
  for (const e of r.events) if (e.type === 'phase') entered.set(e.phase, e);
  const ended = BAD.includes(r.phase) ? r.phase : null;
  const path = HAPPY.filter((p) => p !== 'awaiting-approval' || entered.has('awaiting-approval') || r.phase === 'awaiting-approval');
  const steps = ended ? [...path.filter((p) => entered.has(p)), ended] : path;
  const gates = r.events.filter((e) => e.type === 'gate' && e.data.result);
  // Once a release is over, nothing holds any more: a hold (or the standby watch stopped by the end) is stale.
  const over = ended !== null || r.phase === 'retired';
  const analysis = r.events.filter(
    (e) =>
      e.type === 'analysis' &&
      (e.data.kind === 'outcome' || e.data.kind === 'hold' || e.data.kind === 'warning') &&
      !(over && (e.data.kind === 'hold' || e.data.outcome?.action === 'hold')),
  );
  const detailsOf = (phase) => {
    if (phase === 'verifying')
      return gates.map((g) =>
        h(
          'li',
          { class: `gate ${g.data.result.outcome}` },
          h('strong', {}, g.data.result.outcome),
          ` ${g.data.result.name}: ${g.data.result.summary}`,
        ),
      );
    // Each run under its phase: the steps under shifting, the window under observing, the standby watch under promoted.
    const phaseOfRun = (a) => {
      const label = String(a.data.label ?? a.reason);
      return /standby watch/i.test(label) ? 'promoted' : /observ/i.test(label) ? 'observing' : 'shifting';
    };
    if (phase === 'shifting' || phase === 'observing' || phase === 'promoted')
      return analysis
        .filter((a) => phaseOfRun(a) === phase)
        .map((a) =>
          h(
            'li',
            { class: `analysis ${a.data.outcome?.verdict ?? a.data.kind}` },
            h('strong', {}, a.data.outcome?.verdict ?? a.data.kind),
            ` ${humanReason(a.reason)}`,
          ),
        );
    return [];
  };
  return h(
    'section',
    { class: 'release', 'data-release': r.id, 'data-phase': r.phase },
    h(
      'h3',
      {},
      `Release ${r.version} `,
      h('span', { class: 'muted' }, `${r.id} · ${r.fromSlot ?? 'none'} → ${r.slot}`),
      ' ',
      h('span', { class: `phase phase-${r.phase}`, 'data-testid': 'phase' }, r.phase),
      r.step ? h('span', { class: 'step-of', 'data-testid': 'step' }, ` ${stepText(r.step)}`) : null,
    ),
    h(
      'ol',
      { class: 'timeline' },
      steps.map((p) => {
        const e = entered.get(p);
        const state = p === ended ? 'bad' : p === r.phase ? 'current' : e ? 'done' : 'todo';
        const more = detailsOf(p);
        return h(
          'li',
          { class: state, 'data-step': p },
          h('span', { class: 'step' }, p),
          e ? h('time', { datetime: e.time }, time(e.time)) : null,
          e?.reason && !(p === ended && r.phase === 'failed') ? h('div', { class: 'reason' }, humanReason(e.reason.split('\n')[0])) : null,
          // A failed release shows all of its reason (the app's own output) and the way to its logs.
          p === ended && r.phase === 'failed'
            ? h('pre', { class: 'reason-full', 'data-testid': 'failure' }, r.reason ?? e?.reason ?? '')
            : null,
          p === ended && r.phase === 'failed' ? logsButton(card, r) : null,
          more.length ? h('ul', { class: 'results' }, more) : null,
        );
      }),
    ),
    holdBox(card, r),
    actions(card, r),
  );
}

/** A release that holds on an inconclusive analysis waits for a person: say why and what to do. */
function holdBox(card, r) {
  const last = r.analysis?.at(-1);
  if (!['shifting', 'observing'].includes(r.phase) || !last || last.action !== 'hold') return null;
  return h(
    'div',
    { class: 'hold', role: 'status', 'data-testid': 'hold' },
    h('strong', {}, `Holding (${last.label}): `),
    `${last.reason}. Press Promote or run `,
    h('code', {}, `cutover promote ${card.name}`),
    ' to go on, or roll back.',
  );
}

function logsButton(card, r) {
  // What was fetched stays shown when the card is drawn again (every event and poll redraws it).
  const shown = card.logs?.release === r.id ? card.logs.text : null;
  const out = h('pre', { class: 'logs', hidden: shown === null }, shown ?? '');
  const show = h(
    'button',
    {
      type: 'button',
      class: 'quiet',
      onclick: async () => {
        try {
          const answer = await api('GET', `/services/${encodeURIComponent(card.name)}/logs?slot=${r.slot}&lines=200`);
          out.textContent = answer.lines.join('\n') || 'no log lines';
        } catch (err) {
          out.textContent = err.message;
        }
        card.logs = { release: r.id, text: out.textContent };
        out.hidden = false;
        out.scrollTop = out.scrollHeight; // the newest lines, where the failure is
      },
    },
    `Logs of ${r.slot}`,
  );
  return h('div', {}, show, ` or cutover logs ${card.name} --slot ${r.slot}`, out);
}

function actions(card, r) {
  if (!me || RANK[me.role] < RANK.deployer) return null;
  const buttons = [];
  if (['awaiting-approval', 'shifting', 'observing'].includes(r.phase))
    buttons.push(
      button(
        card,
        'promote',
        'Promote',
        `Promote release ${r.version} of ${card.name}?`,
        r.phase === 'awaiting-approval' ? `Traffic moves to ${r.slot}.` : `${r.slot} takes all traffic now.`,
      ),
    );
  if (['shifting', 'observing', 'promoted'].includes(r.phase) && r.fromSlot)
    buttons.push(
      button(
        card,
        'rollback',
        'Roll back',
        `Roll ${card.name} back to ${r.fromSlot}?`,
        `All traffic goes back to ${r.fromSlot}${r.data?.fromVersion ? ` (version ${r.data.fromVersion})` : ''} at once; release ${r.version} ends rolled back.`,
      ),
    );
  if (BEFORE_TRAFFIC.includes(r.phase))
    buttons.push(
      button(card, 'abort', 'Abort', `Abort release ${r.version} of ${card.name}?`, `${r.slot} is stopped; the live slot is not touched.`),
    );
  return buttons.length ? h('div', { class: 'actions' }, buttons) : null;
}

function button(card, action, label, title, text) {
  return h(
    'button',
    {
      type: 'button',
      class: action === 'promote' ? '' : 'danger',
      'data-action': action,
      onclick: async () => {
        const reason = await confirmDialog(title, text, action !== 'promote');
        if (reason === null) return;
        banner('');
        try {
          await api('POST', `/services/${encodeURIComponent(card.name)}/${action}`, action === 'promote' ? {} : reason ? { reason } : {});
        } catch (err) {
          banner(`${label} failed: ${err.message}`);
        }
        await refresh(card.name, true);
      },
    },
    label,
  );
}

/** Resolves with the reason typed (maybe '') on confirm, null on cancel. */
function confirmDialog(title, text, withReason) {
  const d = $('confirm');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-reason').value = '';
  $('confirm-reason').hidden = !withReason;
  d.querySelector('label').hidden = !withReason;
  d.returnValue = '';
  d.showModal();
  $('confirm-cancel').focus();
  return new Promise((resolve) =>
    d.addEventListener('close', () => resolve(d.returnValue === 'ok' ? $('confirm-reason').value.trim() : null), { once: true }),
  );
}

/** A drill's result as history shows it: `passed, 420 ms`. */
function drillText(d) {
  return d.timeToRollbackMs === null ? d.result : `${d.result}, ${d.timeToRollbackMs} ms`;
}

function historyBox(card) {
  return h(
    'details',
    { class: 'history', open: cards.size <= 2 },
    h('summary', {}, 'History'),
    card.releases.length === 0
      ? h('p', { class: 'muted' }, 'No releases yet.')
      : h(
          'table',
          { 'data-testid': 'releases' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['started', 'version', 'slots', 'phase', 'reason'].map((c) => h('th', {}, c)),
            ),
          ),
          h(
            'tbody',
            {},
            card.releases
              .slice(0, 10)
              .map((r) =>
                h(
                  'tr',
                  {},
                  h('td', {}, time(r.createdAt)),
                  h('td', {}, r.version, r.data?.group?.name ? h('span', { class: 'muted' }, ` group ${r.data.group.name}`) : null),
                  h('td', {}, `${r.fromSlot ?? '-'} → ${r.slot}`),
                  h(
                    'td',
                    {},
                    h('span', { class: `phase phase-${r.phase}` }, r.phase),
                    r.drill
                      ? h('span', { class: `drill drill-${r.drill.result}`, title: r.drill.summary }, ` drill ${drillText(r.drill)}`)
                      : null,
                  ),
                  h('td', { class: 'reason' }, humanReason((r.reason ?? '').split('\n')[0])),
                ),
              ),
          ),
        ),
    card.audit.length === 0
      ? null
      : h(
          'table',
          { class: 'audit' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['time', 'who', 'what', 'status', 'from'].map((c) => h('th', {}, c)),
            ),
          ),
          h(
            'tbody',
            {},
            card.audit.map((e) =>
              h(
                'tr',
                {},
                h('td', {}, time(e.time)),
                h('td', {}, e.actor),
                h('td', {}, `${e.data.method} ${e.data.path}`),
                h('td', {}, e.data.status),
                h('td', {}, e.data.remote),
              ),
            ),
          ),
        ),
  );
}

function renderCharts(card) {
  const box = card.el.querySelector('[data-charts]');
  if (!box) return;
  const pts = card.traffic;
  const series = (pick) =>
    ['blue', 'green'].map((slot) => ({ name: slot, className: `slot-${slot}`, values: pts.map((p) => [p.t, pick(p[slot])]) }));
  const last = (pick, fmt) =>
    ['blue', 'green'].map((slot) => {
      const v = pts.length ? pick(pts[pts.length - 1][slot]) : null;
      return h('span', { class: `legend slot-${slot}` }, `${slot} ${v === null || v === undefined || !Number.isFinite(v) ? '-' : fmt(v)}`);
    });
  const now = Date.now();
  // The span grows to show the oldest point or mark (up to five minutes).
  const oldest = Math.min(pts.length ? pts[0].t : now, ...card.marks.map((m) => m.t));
  const spanMs = Math.min(CHART_SPAN.max, Math.max(CHART_SPAN.min, now - oldest));
  const chart = (title, pick, fmt, floor) =>
    h(
      'figure',
      { class: 'chart-box' },
      h('figcaption', {}, title, ' ', last(pick, fmt)),
      lineChart({ title, series: series(pick), spanMs, now, format: fmt, floor, marks: card.marks }),
    );
  box.replaceChildren(
    chart(
      'requests/s',
      (p) => p.rate,
      (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1)),
      1,
    ),
    chart(
      'error rate',
      (p) => p.errorRate,
      (v) => pct(v * 100),
      0.01,
    ),
    chart(
      'p99 latency',
      (p) => p.p99,
      (v) => (v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${v >= 10 ? v.toFixed(0) : v.toFixed(1)} ms`),
      1,
    ),
  );
}

// ---- live updates -------------------------------------------------------------------------------

/** Follows /api/v1/events with fetch (EventSource cannot send the token), reconnecting with Last-Event-ID. */
async function follow() {
  stream?.abort();
  const ac = new AbortController();
  stream = ac;
  let lastId = null;
  while (!ac.signal.aborted && token) {
    try {
      const res = await fetch('/api/v1/events', {
        headers: { authorization: `Bearer ${token}`, ...(lastId !== null ? { 'last-event-id': lastId } : {}) },
        signal: ac.signal,
      });
      if (res.status === 401) return signOut('Your token is not accepted any more (revoked?). Sign in again.');
      if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}`);
      $('live-dot').classList.add('ok');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let data = null;
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) lastId = line.slice(4);
            else if (line.startsWith('data: ')) data = line.slice(6);
          }
          if (data) onEvent(JSON.parse(data));
        }
      }
    } catch {
      if (ac.signal.aborted) return;
    }
    $('live-dot').classList.remove('ok');
    await new Promise((r) => setTimeout(r, 2000));
  }
}

const pending = new Map();
function onEvent(e) {
  if (!cards.has(e.service)) return;
  const withHistory = e.type === 'phase' || e.type === 'audit';
  const p = pending.get(e.service);
  if (p) {
    p.withHistory ||= withHistory;
    return;
  }
  const entry = { withHistory };
  pending.set(e.service, entry);
  setTimeout(() => {
    pending.delete(e.service);
    void refresh(e.service, entry.withHistory);
  }, 100);
}

setInterval(() => {
  if (!me) return;
  for (const name of cards.keys()) void refresh(name, false);
}, POLL);
setInterval(() => {
  if (!me) return;
  for (const card of cards.values()) void loadTraffic(card);
}, TRAFFIC_POLL);

// ---- start --------------------------------------------------------------------------------------

if (token) {
  signIn(token).catch((err) => signOut(err.status === 401 ? 'Your token is not accepted any more. Sign in again.' : err.message));
} else {
  signOut();
}
