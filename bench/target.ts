// What the bench knows about one thing wrk can be pointed at: the upstream itself, Node's floor (a plain
// net pipe), cutover, nginx, HAProxy.

export type Slot = 'blue' | 'green';
export type Kind = 'direct' | 'floor' | 'cutover' | 'nginx' | 'haproxy';

export interface Target {
  /** Row name in the table: `nginx`, `cutover-w2`, `haproxy-t2`. */
  name: string;
  kind: Kind;
  /** Worker processes (or HAProxy threads). */
  workers: number;
  url: string;
  /** Process whose tree (itself, its children, reaped children) is charged with the CPU per request. */
  pid: number;
  /** Moves all traffic to `slot`; absent for `direct`. */
  switchTo?: (slot: Slot) => Promise<void>;
  /** How often the switch-under-load round switches. */
  switchEveryMs?: number;
  /** Anything odd the target noticed (reload errors in nginx's log, ...), read after a round. */
  notes?: () => string[];
  close(): Promise<void>;
}

/** Ports of the upstream nginx: blue answers on one, green on the other. */
export interface Upstream {
  blue: number;
  green: number;
  pid: number;
}
