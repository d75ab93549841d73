// The controller's view of the fleet's routers: `<p>/routers/` read once, then watched, so a switch
// can wait until every live router serves its generation. A router is live while its lease-bound
// record exists; one that dies drops out when its lease expires (ROUTER_LEASE_TTL_S).
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { Logger } from '../log.ts';
import { prefixRange } from '../store/etcd-keys.ts';
import { parseJson, routersDir, type RouterRecord } from './keys.ts';

/** Deadline of the registry's reads. */
const READ_TIMEOUT_MS = 2000;

export interface Lagging {
  id: string;
  /** The generation it serves (0: none yet). */
  generation: number;
}

export class RouterRegistry {
  readonly #client: Etcd3;
  readonly #dir: string;
  readonly #log: Logger;
  readonly #routers = new Map<string, RouterRecord>();
  readonly #waiters = new Set<() => void>();
  #watcher: Watcher | null = null;

  static async start(client: Etcd3, prefix: string, log: Logger): Promise<RouterRegistry> {
    const r = new RouterRegistry(client, prefix, log);
    const revision = await r.#readAll();
    r.#watch(revision);
    return r;
  }

  private constructor(client: Etcd3, prefix: string, log: Logger) {
    this.#client = client;
    this.#dir = routersDir(prefix);
    this.#log = log.child({ component: 'fleet-registry' });
  }

  async #readAll(): Promise<string> {
    const res = await this.#client.kv.range(prefixRange(this.#dir), { deadline: Date.now() + READ_TIMEOUT_MS });
    this.#routers.clear();
    for (const kv of res.kvs) this.#put(kv);
    this.#wake();
    return res.header.revision;
  }

  #watch(revision: string): void {
    const w = this.#client
      .watch()
      .prefix(this.#dir)
      .startRevision(String(BigInt(revision) + 1n))
      .watcher();
    this.#watcher = w;
    w.on('put', (kv) => {
      this.#put(kv);
      this.#wake();
    });
    w.on('delete', (kv) => {
      this.#routers.delete(idOf(kv, this.#dir));
      this.#wake();
    });
    w.on('error', (err) => {
      this.#log.warn('watch of the routers failed; reading them again', { err });
      void w.cancel().catch(() => {});
      const again = (): void => {
        this.#readAll().then(
          (rev) => this.#watch(rev),
          () => setTimeout(again, 500).unref(),
        );
      };
      again();
    });
  }

  #put(kv: IKeyValue): void {
    const record = parseJson<RouterRecord>(kv.value);
    if (record !== null) this.#routers.set(idOf(kv, this.#dir), record);
  }

  #wake(): void {
    for (const wake of this.#waiters) wake();
  }

  /** Every live router, by id. */
  routers(): RouterRecord[] {
    return [...this.#routers.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Live routers of `service` that serve an older generation than `generation`. */
  lagging(service: string, generation: number): Lagging[] {
    const out: Lagging[] = [];
    for (const r of this.routers()) {
      const s = r.services[service];
      if (s !== undefined && s.generation < generation) out.push({ id: r.id, generation: s.generation });
    }
    return out;
  }

  /**
   * Resolves when every live router of `service` serves `generation` or newer, or at the timeout
   * with those that do not (read again from etcd first, in case the watch fell behind).
   */
  async waitFor(service: string, generation: number, timeoutMs: number): Promise<Lagging[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.lagging(service, generation).length === 0) return [];
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
    await this.#readAll().catch(() => {});
    return this.lagging(service, generation);
  }

  async close(): Promise<void> {
    await this.#watcher?.cancel().catch(() => {});
    this.#wake();
  }
}

function idOf(kv: IKeyValue, dir: string): string {
  return decodeURIComponent(kv.key.toString().slice(dir.length));
}
