// The fleet's link (fleet-link.ts) over etcd: the etcd store's own connection in `cutover up`, or a
// connection of its own in a router-only process (`cutover router`), which never opens the store.
import type { Etcd3, IKeyValue, Lease } from 'etcd3';
import { createClient } from './etcd-client.ts';
import { keysFor, prefixRange } from './etcd-keys.ts';
import type {
  FleetCampaign,
  FleetElection,
  FleetEntry,
  FleetLease,
  FleetLeaseHandlers,
  FleetLink,
  FleetWatch,
  FleetWatchHandlers,
} from './fleet-link.ts';

export class EtcdFleetLink implements FleetLink {
  readonly routes: string;
  readonly #client: Etcd3;
  /** The installation's prefix with one `/` after it: what every relative key is put behind. */
  readonly #base: string;
  readonly #ownClient: boolean;

  /** A link with a connection of its own (closed by `close`), every call bounded by `requestTimeoutMs`. */
  static open(endpoints: string[], prefix: string, requestTimeoutMs: number): EtcdFleetLink {
    return new EtcdFleetLink(createClient(endpoints, requestTimeoutMs), prefix, true);
  }

  /** A link over the store's connection (`ownClient: false`: closing the store closes it). */
  constructor(client: Etcd3, prefix: string, ownClient = false) {
    this.#client = client;
    this.#base = `${prefix.replace(/\/+$/, '')}/`;
    this.#ownClient = ownClient;
    this.routes = keysFor(prefix).routes.slice(this.#base.length);
  }

  async list(dir: string, timeoutMs?: number): Promise<{ entries: FleetEntry[]; revision: string }> {
    const res = await this.#client.kv.range(
      prefixRange(this.#base + dir),
      timeoutMs === undefined ? undefined : { deadline: Date.now() + timeoutMs },
    );
    return { entries: res.kvs.map((kv) => this.#entry(kv)), revision: res.header.revision };
  }

  watch(dir: string, afterRevision: string, on: FleetWatchHandlers): FleetWatch {
    const w = this.#client
      .watch()
      .prefix(this.#base + dir)
      .startRevision(String(BigInt(afterRevision) + 1n))
      .watcher();
    w.on('put', (kv) => on.put(this.#entry(kv)));
    w.on('delete', (kv) => on.delete?.(this.#key(kv)));
    w.on('connected', () => on.connected?.());
    w.on('disconnected', (err) => on.disconnected?.(err));
    w.on('error', (err) => on.error(err));
    return { cancel: () => w.cancel() };
  }

  lease(ttlSeconds: number, on: FleetLeaseHandlers): FleetLease {
    const lease: Lease = this.#client.lease(ttlSeconds, { autoKeepAlive: true });
    lease.on('keepaliveSucceeded', () => on.keepaliveSucceeded?.());
    lease.on('keepaliveFailed', () => on.keepaliveFailed?.());
    lease.on('lost', () => on.lost?.());
    return {
      put: async (key, value) => {
        await lease.put(this.#base + key).value(value);
      },
      revoke: (timeoutMs) => lease.revoke({ deadline: Date.now() + timeoutMs }),
    };
  }

  election(name: string, ttlSeconds: number): FleetElection {
    // The campaign keys are <p>/election/election/<name>/<lease>: etcd3's Election puts its own
    // `election/<name>/` inside the namespace it is given. Kept as it is: controllers of an older
    // cutover campaign under the same keys.
    const election = this.#client.namespace(`${this.#base}election/`).election(name, ttlSeconds);
    return {
      campaign: (value): FleetCampaign => {
        const c = election.campaign(value);
        return {
          wait: async () => {
            await c.wait();
          },
          resign: () => c.resign(),
          onError: (handler) => {
            c.on('error', handler);
          },
        };
      },
      leader: () => election.leader(),
    };
  }

  /** Closes the connection if the link opened it; a link over the store's leaves it to the store. */
  close(): void {
    if (this.#ownClient) this.#client.close();
  }

  #key(kv: IKeyValue): string {
    return kv.key.toString().slice(this.#base.length);
  }

  #entry(kv: IKeyValue): FleetEntry {
    return { key: this.#key(kv), value: kv.value.toString() };
  }
}
