// The controller's view of the fleet's routers: `<p>/routers/` read once, then watched, so a switch
// can wait until every live router serves its generation. A router is live while its lease-bound
// record exists; one that dies drops out when its lease expires (ROUTER_LEASE_TTL_S).
import type { Logger } from '../log.ts';
import type { FleetEntry, FleetLink, FleetWatch } from '../store/fleet-link.ts';
import { parseJson, ROUTERS_DIR, type RouterRecord } from './keys.ts';

/** Deadline of the registry's reads. */
const READ_TIMEOUT_MS = 2000;

export interface Lagging {
  id: string;
  /** The generation it serves (0: none yet). */
  generation: number;
}

export class RouterRegistry {
  readonly #link: FleetLink;
  readonly #log: Logger;
  readonly #routers = new Map<string, RouterRecord>();
  readonly #waiters = new Set<() => void>();
  #watcher: FleetWatch | null = null;

  static async start(link: FleetLink, log: Logger): Promise<RouterRegistry> {
    const r = new RouterRegistry(link, log);
    const revision = await r.#readAll();
    r.#watch(revision);
    return r;
  }

  private constructor(link: FleetLink, log: Logger) {
    this.#link = link;
    this.#log = log.child({ component: 'fleet-registry' });
  }

  async #readAll(): Promise<string> {
    const { entries, revision } = await this.#link.list(ROUTERS_DIR, READ_TIMEOUT_MS);
    this.#routers.clear();
    for (const entry of entries) this.#put(entry);
    this.#wake();
    return revision;
  }

  #watch(revision: string): void {
    const w = this.#link.watch(ROUTERS_DIR, revision, {
      put: (entry) => {
        this.#put(entry);
        this.#wake();
      },
      delete: (key) => {
        this.#routers.delete(idOf(key));
        this.#wake();
      },
      error: (err) => {
        this.#log.warn('watch of the routers failed; reading them again', { err });
        void w.cancel().catch(() => {});
        const again = (): void => {
          this.#readAll().then(
            (rev) => this.#watch(rev),
            () => setTimeout(again, 500).unref(),
          );
        };
        again();
      },
    });
    this.#watcher = w;
  }

  #put(entry: FleetEntry): void {
    const record = parseJson<RouterRecord>(entry.value);
    if (record !== null) this.#routers.set(idOf(entry.key), record);
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

function idOf(key: string): string {
  return decodeURIComponent(key.slice(ROUTERS_DIR.length));
}
