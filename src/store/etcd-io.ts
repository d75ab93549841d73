// How the etcd store talks to etcd: reads (several keys as of one revision, prefix ranges) and
// writes whose answer may be lost. A write either is known made, or known not made: when the answer
// to a sent transaction is lost, the write finds out which (see `write`).

import {
  SortOrder,
  SortTarget,
  type Etcd3,
  type ICompare,
  type IKeyValue,
  type IRequestOp,
  type ITxnRequest,
  type ITxnResponse,
} from 'etcd3';
import { CutoverError } from '../errors.ts';
import { callEtcd, classify, readAgain, type Stage } from './etcd-client.ts';
import { padSeq, prefixRange, type Keys } from './etcd-keys.ts';
import { counterOf, get, modIs, parse, put } from './etcd-ops.ts';
import type { NewEvent, StoreEvent } from './types.ts';

/** Operations per read transaction: below etcd's default --max-txn-ops (128). */
const TXN_OPS = 100;

/** How to find out whether a transaction happened after its answer was lost (see `write`). */
export interface CommitCheck {
  witness: { key: string; value: string };
  fence?: { compare: ICompare; write: IRequestOp };
}
export type Commit = (req: ITxnRequest, check: CommitCheck) => Promise<ITxnResponse>;

export class EtcdIo {
  readonly #client: Etcd3;
  readonly #endpoints: string[];
  readonly #k: Keys;
  readonly #isClosed: () => boolean;
  readonly #name: string;

  constructor(client: Etcd3, endpoints: string[], keys: Keys, name: string, isClosed: () => boolean) {
    this.#client = client;
    this.#endpoints = endpoints;
    this.#k = keys;
    this.#name = name;
    this.#isClosed = isClosed;
  }

  #check(): void {
    if (this.#isClosed()) throw new CutoverError('CUTOVER_E_INTERNAL', `the etcd store ${this.#name} is closed; this is a bug, report it`);
  }

  read<T>(fn: () => Promise<T>): Promise<T> {
    this.#check();
    return callEtcd(this.#endpoints, () => 'read', fn);
  }

  /**
   * Runs a write; `commit` sends its transaction, and tells a failure before it from one during it.
   *
   * When the answer to a sent transaction is lost (a deadline, a leader that changed under it), the
   * commit may or may not have happened. `commit` then finds out, when the cluster answers again:
   * the transaction's `witness` (a key it writes with a value nobody else writes) shows it happened.
   * Otherwise a `fence` (a write that changes the key the transaction compares: the event counter)
   * makes sure it never will, so the caller hears "not made" for certain. Without a fence a missing
   * witness stays "not confirmed".
   */
  write<T>(fn: (commit: Commit) => Promise<T>): Promise<T> {
    this.#check();
    let stage: Stage = 'before-write';
    const commit: Commit = async (req, check) => {
      stage = 'write';
      let res: ITxnResponse;
      try {
        res = await this.#client.kv.txn(req);
      } catch (err) {
        if (classify(err) !== 'timed-out') throw err;
        const made = await this.#wasMade(check).catch(() => null);
        if (made === null) throw err;
        if (!made) {
          stage = 'before-write';
          throw err;
        }
        return { header: {} as ITxnResponse['header'], succeeded: true, responses: [] };
      }
      stage = 'before-write';
      return res;
    };
    return callEtcd(
      this.#endpoints,
      () => stage,
      () => fn(commit),
    );
  }

  /** Whether a transaction whose answer was lost happened: true, false, or null when it cannot tell. */
  async #wasMade(check: CommitCheck): Promise<boolean | null> {
    const { witness, fence } = check;
    const found = (kv: IKeyValue | undefined): boolean => kv !== undefined && kv.value.toString() === witness.value;
    if (fence === undefined) {
      const res = await readAgain(() => this.#client.kv.range({ key: Buffer.from(witness.key) }));
      return found(res.kvs[0]) || null;
    }
    const res = await this.#client.kv.txn({ compare: [fence.compare], success: [fence.write], failure: [get(witness.key)] });
    // The fence went in over the same counter value: the transaction did not happen before it, and
    // cannot after it. Else the counter moved: by this transaction (its witness is there) or another.
    return res.succeeded ? false : found(res.responses[0]?.response_range.kvs[0]);
  }

  /** What `commit` needs to find out whether a seq-guarded write happened: its event, and the counter. */
  seqCheck(seqKv: IKeyValue | null, event: StoreEvent): CommitCheck {
    return {
      witness: { key: this.#k.event(event.seq), value: JSON.stringify(event) },
      fence: { compare: modIs(this.#k.seq, seqKv), write: put(this.#k.seq, String(counterOf(seqKv))) },
    };
  }

  async get(key: string): Promise<IKeyValue | null> {
    const res = await readAgain(() => this.#client.kv.range({ key: Buffer.from(key) }));
    return res.kvs[0] ?? null;
  }

  async getJson<T>(key: string): Promise<T | null> {
    const kv = await this.get(key);
    return kv === null ? null : parse<T>(kv);
  }

  /**
   * Several keys in one round trip, as of one revision when they fit in one transaction (etcd takes
   * at most 128 operations in one; only long release lists need more).
   */
  async getMany(keys: string[]): Promise<(IKeyValue | null)[]> {
    const found: (IKeyValue | null)[] = [];
    for (let i = 0; i < keys.length; i += TXN_OPS) {
      const chunk = keys.slice(i, i + TXN_OPS);
      const res = await readAgain(() => this.#client.kv.txn({ success: chunk.map(get) }));
      for (const r of res.responses) found.push(r.response_range.kvs[0] ?? null);
    }
    return found;
  }

  async range(dir: string, options: { from?: string | undefined; limit?: number; desc?: boolean } = {}): Promise<IKeyValue[]> {
    const { key, range_end } = prefixRange(dir);
    const res = await readAgain(() =>
      this.#client.kv.range({
        key: options.from === undefined ? key : Buffer.from(options.from),
        range_end,
        limit: options.limit ?? 0,
        ...(options.desc === true ? { sort_order: SortOrder.Descend, sort_target: SortTarget.Key } : {}),
      }),
    );
    return res.kvs;
  }

  /** The seq counter, and the release an event names (null when it names none or one that is not there). */
  async readForEvent(event: NewEvent): Promise<[IKeyValue | null, IKeyValue | null]> {
    const releaseId = event.releaseId ?? null;
    const [seqKv, releaseKv] = await this.getMany(releaseId === null ? [this.#k.seq] : [this.#k.seq, this.#k.release(releaseId)]);
    return [seqKv ?? null, releaseKv ?? null];
  }

  /**
   * The counter (at the last event's seq: etcd refuses a transaction that writes one key twice) and
   * each event with its two index copies.
   */
  eventOps(...events: StoreEvent[]): IRequestOp[] {
    const k = this.#k;
    const last = events.at(-1);
    return [
      ...(last === undefined ? [] : [put(k.seq, String(last.seq))]),
      ...events.flatMap((event) => {
        const text = JSON.stringify(event);
        const seq = padSeq(event.seq);
        return [
          put(k.event(event.seq), text),
          put(k.eventsOfService(event.service) + seq, text),
          ...(event.releaseId === null ? [] : [put(k.eventsOfRelease(event.releaseId) + seq, text)]),
        ];
      }),
    ];
  }
}
