// The ACME challenges that controllers' ACME clients have pending, kept by the supervisor per service
// and handed to every edge router process it runs: the ACME server may reach any of them (any worker
// of the service's TLS listener, or the process answering the httpRedirect listener), and a router
// process started again later gets them too. A controller's client sends its whole pending set each
// time, so the first set a new controller sends also clears what a dead one left behind.
import type { Challenge } from '../edge/challenge-sink.ts';

export class ChallengeBook {
  readonly #byService = new Map<string, Map<string, Challenge>>();

  /** Replaces the service's pending challenges; returns what the router processes must change (null: remove). */
  replace(service: string, next: Record<string, Challenge>): [string, Challenge | null][] {
    const old = this.#byService.get(service) ?? new Map<string, Challenge>();
    const now = new Map(Object.entries(next));
    const changes: [string, Challenge | null][] = [];
    for (const key of old.keys()) if (!now.has(key)) changes.push([keyOf(service, key), null]);
    for (const [key, c] of now) if (JSON.stringify(old.get(key)) !== JSON.stringify(c)) changes.push([keyOf(service, key), c]);
    if (now.size === 0) this.#byService.delete(service);
    else this.#byService.set(service, now);
    return changes;
  }

  /** Every pending challenge, keyed as the router processes know it. */
  all(): [string, Challenge][] {
    return [...this.#byService].flatMap(([service, m]) => [...m].map(([key, c]): [string, Challenge] => [keyOf(service, key), c]));
  }
}

/** Two services' challenges never share a key in a router process. */
const keyOf = (service: string, key: string): string => `${service} ${key}`;
