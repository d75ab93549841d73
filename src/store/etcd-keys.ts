// Where the etcd store keeps what, under one installation's prefix. Several installations share a
// cluster by using prefixes that do not nest (`/cutover/prod`, `/cutover/staging`).
//
//   <p>/schema                              layout version ("1")
//   <p>/seq                                 the last event seq handed out (decimal)
//   <p>/events/<seq>                        StoreEvent JSON: the event log, in seq order by key
//   <p>/events-by-service/<service>/<seq>   a copy of the event, for events({ service })
//   <p>/events-by-release/<release>/<seq>   a copy of the event, for events({ releaseId })
//   <p>/releases/<id>                       ReleaseRecord JSON
//   <p>/releases-by-service/<service>/<seq> release id; seq is that of its `pending` event (creation order)
//   <p>/active/<service>                    id of the service's one non-terminal release; absent when none
//   <p>/routes/<service>                    RouteState JSON: what routers watch
//   <p>/route-generations/<service>         the route state's generation (decimal), compared by switches
//   <p>/tokens/<id>                         TokenRecord JSON
//   <p>/token-hashes/<hash>                 token id; one key per secret, so two tokens cannot share one
//   <p>/replicas/<node>/<id>                ReplicaRecord JSON: a process replica of that node's supervisor
//   <p>/replica-writes/<node>               a value new with each write of the node's replicas (see etcd-replicas.ts)
//
// <node> is the machine and stateDir whose supervisor runs the replicas (etcd-replicas.ts): each
// controller reads and removes only its own node's records, never another machine's.
// <seq> is zero-padded to 16 digits (every safe integer), so key order is seq order and a range read
// with a limit is answered by etcd without sorting. Names and ids are URI-encoded: a `/` in one cannot
// reach another key.

import { CutoverError } from '../errors.ts';

export const SCHEMA_VERSION = 1;
const SEQ_DIGITS = 16;

export interface Keys {
  schema: string;
  seq: string;
  event(seq: number): string;
  events: string;
  eventsOfService(service: string): string;
  eventsOfRelease(releaseId: string): string;
  release(id: string): string;
  releasesOfService(service: string): string;
  active(service: string): string;
  actives: string;
  route(service: string): string;
  routes: string;
  routeGeneration(service: string): string;
  token(id: string): string;
  tokens: string;
  tokenHash(hash: string): string;
  replicasOfNode(node: string): string;
  replica(node: string, id: string): string;
  replicaWrite(node: string): string;
}

/** Directories end with `/`: read them with `prefixRange`. */
export function keysFor(prefix: string): Keys {
  const p = prefix.replace(/\/+$/, '');
  const e = encodeURIComponent;
  return {
    schema: `${p}/schema`,
    seq: `${p}/seq`,
    event: (seq) => `${p}/events/${padSeq(seq)}`,
    events: `${p}/events/`,
    eventsOfService: (service) => `${p}/events-by-service/${e(service)}/`,
    eventsOfRelease: (id) => `${p}/events-by-release/${e(id)}/`,
    release: (id) => `${p}/releases/${e(id)}`,
    releasesOfService: (service) => `${p}/releases-by-service/${e(service)}/`,
    active: (service) => `${p}/active/${e(service)}`,
    actives: `${p}/active/`,
    route: (service) => `${p}/routes/${e(service)}`,
    routes: `${p}/routes/`,
    routeGeneration: (service) => `${p}/route-generations/${e(service)}`,
    token: (id) => `${p}/tokens/${e(id)}`,
    tokens: `${p}/tokens/`,
    tokenHash: (hash) => `${p}/token-hashes/${e(hash)}`,
    replicasOfNode: (node) => `${p}/replicas/${e(node)}/`,
    replica: (node, id) => `${p}/replicas/${e(node)}/${e(id)}`,
    replicaWrite: (node) => `${p}/replica-writes/${e(node)}`,
  };
}

export function padSeq(seq: number): string {
  return String(seq).padStart(SEQ_DIGITS, '0');
}

/** The key range [key, end) holding every key that starts with `dir`. */
export function prefixRange(dir: string): { key: Buffer; range_end: Buffer } {
  const key = Buffer.from(dir);
  const end = Buffer.from(key);
  // `dir` ends with '/', so the last byte can always be incremented.
  end[end.length - 1] = end[end.length - 1]! + 1;
  return { key, range_end: end };
}

/** `etcd://h1:2379,h2:2379/cutover/prod` -> endpoints and prefix (`/cutover` when the URL has no path). */
export function parseEtcdUrl(url: string): { endpoints: string[]; prefix: string } {
  const m = /^etcd(s?):\/\/([^/]+)(\/.*)?$/.exec(url.trim());
  const hosts =
    m?.[2]
      ?.split(',')
      .map((h) => h.trim())
      .filter((h) => h.length > 0) ?? [];
  if (m === null || hosts.length === 0 || hosts.some((h) => !/^([^\s:/[\]]+|\[[0-9a-fA-F:.]+\]):\d{1,5}$/.test(h))) {
    throw new CutoverError(
      'CUTOVER_E_CONFIG_INVALID',
      `${url} is not an etcd store URL; write it as etcd://host:2379,host:2379[/prefix]`,
      400,
    );
  }
  const scheme = m[1] === 's' ? 'https' : 'http';
  const path = (m[3] ?? '').replace(/\/+$/, '');
  return { endpoints: hosts.map((h) => `${scheme}://${h}`), prefix: path === '' ? '/cutover' : path };
}
