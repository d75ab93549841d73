// Which service on a shared listener answers a request, from its Host and path: a pure function over
// a table built once per listener. The most specific match wins: an exact host beats a `*.` wildcard
// (one label), which beats a service naming no host; among those, the longest path prefix wins. A
// request that matches nothing is never given to another service: the caller answers it itself.

export interface EdgeRoute<T> {
  service: string;
  /** Lower-case exact names and `*.suffix` wildcards; empty: any host. */
  hosts: readonly string[];
  /** Normalised: starts with `/`, no trailing `/` except the root itself. */
  pathPrefix: string;
  stripPrefix: boolean;
  value: T;
}

export interface EdgeMatch<T> {
  route: EdgeRoute<T>;
  /** The request target to send upstream (the prefix stripped when asked). */
  target: string;
}

/** No service for this request: 421 when no service has its host here, 404 when one has but not the path. */
export interface EdgeMiss {
  status: 404 | 421;
  reason: string;
}

interface Entry<T> {
  route: EdgeRoute<T>;
  prefix: string;
}

export interface EdgeTable<T> {
  readonly exact: ReadonlyMap<string, Entry<T>[]>;
  /** Keyed by the suffix after `*.` (`example.com`). */
  readonly wildcard: ReadonlyMap<string, Entry<T>[]>;
  readonly any: readonly Entry<T>[];
  /** A single route naming no host and `/`: every request goes there (the plain listener). */
  readonly only: EdgeRoute<T> | null;
}

/** `/api/` and `/api` are the same prefix; `` is `/`. */
export function normalisePrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === '' || prefix === '/') return '/';
  let p = prefix.startsWith('/') ? prefix : `/${prefix}`;
  while (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

/** Lower case, no port, no trailing dot; brackets of an IPv6 literal kept off. */
export function normaliseHost(host: string | null): string {
  if (host === null) return '';
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const close = h.indexOf(']');
    return close < 0 ? h : h.slice(1, close);
  }
  const colon = h.indexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

export function buildEdgeTable<T>(routes: readonly EdgeRoute<T>[]): EdgeTable<T> {
  const exact = new Map<string, Entry<T>[]>();
  const wildcard = new Map<string, Entry<T>[]>();
  const any: Entry<T>[] = [];
  const add = (map: Map<string, Entry<T>[]>, key: string, e: Entry<T>): void => {
    const list = map.get(key);
    if (list === undefined) map.set(key, [e]);
    else list.push(e);
  };
  for (const route of routes) {
    const e: Entry<T> = { route, prefix: normalisePrefix(route.pathPrefix) };
    if (route.hosts.length === 0) any.push(e);
    for (const raw of route.hosts) {
      const h = raw.toLowerCase();
      if (h.startsWith('*.')) add(wildcard, h.slice(2), e);
      else add(exact, h, e);
    }
  }
  const longestFirst = (a: Entry<T>, b: Entry<T>): number => b.prefix.length - a.prefix.length;
  for (const list of exact.values()) list.sort(longestFirst);
  for (const list of wildcard.values()) list.sort(longestFirst);
  any.sort(longestFirst);
  const first = routes[0];
  const only = routes.length === 1 && first !== undefined && first.hosts.length === 0 && any[0]?.prefix === '/' ? first : null;
  return { exact, wildcard, any, only };
}

/** The path of a request target: origin form as is, absolute form from its first `/` after the authority. */
function pathOf(target: string): string {
  if (target.charCodeAt(0) === 47) return target;
  const scheme = target.indexOf('://');
  if (scheme > 0) {
    const slash = target.indexOf('/', scheme + 3);
    return slash < 0 ? '/' : target.slice(slash);
  }
  return target; // `*` (OPTIONS) and authority form (CONNECT): only `/` can match
}

/** Whether `path` is under `prefix` at a segment boundary (`/api` holds `/api`, `/api/x`, `/api?q`; not `/apix`). */
function under(path: string, prefix: string): boolean {
  if (prefix === '/') return true;
  if (!path.startsWith(prefix)) return false;
  const next = path.charCodeAt(prefix.length);
  return Number.isNaN(next) || next === 47 || next === 63 || next === 35;
}

function strip(path: string, prefix: string): string {
  if (prefix === '/') return path;
  const rest = path.slice(prefix.length);
  return rest === '' || rest.charCodeAt(0) !== 47 ? `/${rest}` : rest;
}

function first<T>(list: readonly Entry<T>[] | undefined, path: string): Entry<T> | null {
  if (list === undefined) return null;
  for (const e of list) if (under(path, e.prefix)) return e;
  return null;
}

/** The service for a request, or why there is none. `host` is the Host header (or `:authority`). */
export function matchRoute<T>(table: EdgeTable<T>, host: string | null, target: string): EdgeMatch<T> | EdgeMiss {
  if (table.only !== null) return { route: table.only, target };
  const name = normaliseHost(host);
  const path = pathOf(target);
  const exact = table.exact.get(name);
  const dot = name.indexOf('.');
  const wild = dot > 0 ? table.wildcard.get(name.slice(dot + 1)) : undefined;
  const e = first(exact, path) ?? first(wild, path) ?? first(table.any, path);
  if (e === null) {
    if (exact !== undefined || wild !== undefined || table.any.length > 0)
      return { status: 404, reason: `no service at ${path.split('?')[0]} for host ${name}` };
    return { status: 421, reason: `no service for host ${name || '(none)'} on this listener` };
  }
  return { route: e.route, target: e.route.stripPrefix && e.prefix !== '/' ? strip(path, e.prefix) : target };
}

export function isMiss<T>(m: EdgeMatch<T> | EdgeMiss): m is EdgeMiss {
  return (m as EdgeMiss).status !== undefined;
}

/** Whether a host pattern (`app.example.com`, `*.example.com`) covers a name; for certificates by SNI. */
export function hostCovers(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = normaliseHost(name);
  if (!p.startsWith('*.')) return p === n;
  const dot = n.indexOf('.');
  return dot > 0 && n.slice(dot + 1) === p.slice(2);
}
