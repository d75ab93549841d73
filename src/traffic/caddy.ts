// Caddy driven through its admin API: the route with `@id` <route> holds a reverse_proxy handler
// (directly or inside a subroute), and a switch PATCHes that handler's upstreams. Caddy 2.6 has no
// weighted selection policy, so weights are made by repeating upstreams (1:9 for 10/90) over its
// round-robin or random choice. Any change through the admin API reloads Caddy's whole config: the old
// server closes its idle keep-alive connections (a request sent on one at that moment fails) and
// the old reverse proxy's idle upstream connections linger until they time out (see README, "Caddy").
import type { CaddyTraffic, SlotName } from '../config/types.ts';
import { SLOTS } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { drift, intendedWeights } from './drift.ts';
import { trafficRefused, trafficUnreachable, type ObservedTraffic, type TrafficAdapter, type TrafficState } from './types.ts';

const KIND = 'caddy';
const REQUEST_TIMEOUT_MS = 10_000;
/** Caddy needs an upstream to load the handler; before any slot is live this one refuses at once. */
const NOWHERE = '127.0.0.1:9';
export const CADDY_NOTE =
  "a switch reloads Caddy's config, which may drop in-flight keep-alive requests and leaves the old proxy's idle upstream connections open until they time out";

export interface CaddyAdapterOptions {
  log: Logger;
}

type Json = Record<string, unknown>;

export class CaddyAdapter implements TrafficAdapter {
  readonly kind = KIND;
  readonly capabilities = { lossless: false, weighted: true, eventual: false };
  readonly #cfg: CaddyTraffic;
  readonly #log: Logger;
  /** Which slot each address belongs to, from the last state applied (Caddy keeps no labels on upstreams). */
  #slots = new Map<string, SlotName>();
  #busy: Promise<void> = Promise.resolve();

  constructor(cfg: CaddyTraffic, opts: CaddyAdapterOptions) {
    this.#cfg = cfg;
    this.#log = opts.log.child({ traffic: KIND, route: cfg.route });
  }

  apply(state: TrafficState): Promise<void> {
    const run = () => this.#apply(state);
    const p = this.#busy.then(run, run);
    this.#busy = p.catch(() => {});
    return p;
  }

  async #apply(state: TrafficState): Promise<void> {
    for (const slot of SLOTS) for (const t of state.slots[slot].targets) this.#slots.set(t, slot);
    const at = await this.#proxyPath();
    const current = (await this.#request('GET', `${at}/upstreams`)) as { dial?: string }[] | null;
    const upstreams = upstreamList(state).map((dial) => ({ dial }));
    if (JSON.stringify(current?.map((u) => u.dial)) === JSON.stringify(upstreams.map((u) => u.dial))) return;
    await this.#request('PATCH', `${at}/upstreams`, upstreams);
    const wrong = drift(state, await this.observe());
    if (wrong.length > 0) throw trafficRefused(KIND, `route ${this.#cfg.route} does not serve the route table: ${wrong.join('; ')}`);
    this.#log.info('caddy upstreams set', { generation: state.generation, upstreams: upstreams.length });
  }

  async observe(): Promise<ObservedTraffic> {
    const at = await this.#proxyPath();
    const list = ((await this.#request('GET', `${at}/upstreams`)) as { dial?: string }[] | null) ?? [];
    const targets: Record<SlotName, string[]> = { blue: [], green: [] };
    const counts = { blue: 0, green: 0 };
    const foreign = new Set<string>();
    for (const u of list) {
      const dial = u.dial ?? '';
      const slot = this.#slots.get(dial);
      if (slot === undefined) {
        if (dial !== NOWHERE) foreign.add(dial);
        continue;
      }
      counts[slot]++;
      if (!targets[slot].includes(dial)) targets[slot].push(dial);
    }
    const total = counts.blue + counts.green + foreign.size;
    const weights = total === 0 ? { blue: 0, green: 0 } : { blue: (100 * counts.blue) / total, green: (100 * counts.green) / total };
    const notes = [CADDY_NOTE];
    if (foreign.size > 0) notes.push(`upstreams cutover did not set also take traffic: ${[...foreign].join(', ')}`);
    return {
      weights,
      targets,
      detail: `route ${this.#cfg.route} at ${this.#cfg.admin}: ${list.length} upstream entr${list.length === 1 ? 'y' : 'ies'} (blue ${targets.blue.length}, green ${targets.green.length} address(es))`,
      notes,
    };
  }

  async close(): Promise<void> {
    await this.#busy;
  }

  /** The admin API path of the reverse_proxy handler inside the route, like /id/web/handle/0. */
  async #proxyPath(): Promise<string> {
    const base = `/id/${encodeURIComponent(this.#cfg.route)}`;
    const route = (await this.#request('GET', base)) as Json | null;
    const found = route === null ? null : findProxy(route, []);
    if (found === null) {
      throw trafficRefused(
        KIND,
        `route @id ${this.#cfg.route} has no reverse_proxy handler; give the route that proxies to the service "@id": "${this.#cfg.route}"`,
      );
    }
    return [base, ...found].join('/');
  }

  async #request(method: string, pathname: string, body?: unknown): Promise<unknown> {
    const url = `${this.#cfg.admin}${pathname}`;
    let res: Response;
    const send = () =>
      fetch(url, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    try {
      // Caddy's admin server closes idle keep-alive connections (and does so around a config change):
      // a call that went out on one it had just closed gets no answer at all, and is sent once more on
      // a new one. Every call here sets a whole value, so sending it twice changes nothing.
      res = await send().catch((err: unknown) => {
        if ((err as { cause?: { code?: string } }).cause?.code !== 'UND_ERR_SOCKET') throw err;
        return send();
      });
    } catch (err) {
      throw trafficUnreachable(
        KIND,
        `cannot reach Caddy's admin API at ${this.#cfg.admin} (${(err as Error).cause ?? (err as Error).message}); is Caddy running with admin on that address?`,
        err,
      );
    }
    const text = await res.text();
    if (!res.ok) {
      let message = text.trim();
      try {
        message = (JSON.parse(text) as { error?: string }).error ?? message;
      } catch {
        // Not JSON: keep the text.
      }
      throw trafficRefused(KIND, `${method} ${pathname} answered ${res.status}: ${message}`);
    }
    return text.trim() === '' ? null : JSON.parse(text);
  }
}

/** Path segments from a route to its first reverse_proxy handler, looking into subroutes. */
function findProxy(route: Json, at: string[]): string[] | null {
  const handle = Array.isArray(route.handle) ? (route.handle as Json[]) : [];
  for (let i = 0; i < handle.length; i++) {
    const h = handle[i] as Json;
    if (h.handler === 'reverse_proxy') return [...at, 'handle', String(i)];
    if (h.handler === 'subroute' && Array.isArray(h.routes)) {
      const routes = h.routes as Json[];
      for (let j = 0; j < routes.length; j++) {
        const inner = findProxy(routes[j] as Json, [...at, 'handle', String(i), 'routes', String(j)]);
        if (inner !== null) return inner;
      }
    }
  }
  return null;
}

/**
 * The upstream list for `state`: each target of a slot that gets traffic, repeated so the counts
 * carry the weights (a slot's share split over its targets, reduced by their greatest common divisor).
 */
export function upstreamList(state: TrafficState): string[] {
  const want = intendedWeights(state);
  const copies: { dial: string; n: number }[] = [];
  for (const slot of SLOTS) {
    const targets = state.slots[slot].targets;
    if (want[slot] <= 0 || targets.length === 0) continue;
    const n = Math.max(1, Math.round(want[slot] / targets.length));
    for (const dial of targets) copies.push({ dial, n });
  }
  if (copies.length === 0) return [NOWHERE];
  const g = copies.reduce((acc, c) => gcd(acc, c.n), 0);
  // Interleaved, so round robin alternates between the slots instead of serving one in a burst.
  const out: string[] = [];
  const left = copies.map((c) => ({ dial: c.dial, n: c.n / g }));
  while (left.some((c) => c.n > 0)) {
    for (const c of left) {
      if (c.n > 0) {
        out.push(c.dial);
        c.n--;
      }
    }
  }
  return out;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
