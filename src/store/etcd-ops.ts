// The etcd store's transaction vocabulary: the operations and comparisons its transactions are made
// of, how a stored value is read back, the event record every write appends, and the one retry loop
// of a write whose reads another writer made stale.

import { CompareResult, CompareTarget, type ICompare, type IKeyValue, type IRequestOp } from 'etcd3';
import { conflict } from '../errors.ts';
import { cloneJson } from './rules.ts';
import type { EventType, NewEvent, Phase, StoreEvent } from './types.ts';

/** Tries of a write whose reads another writer made stale; then it is refused as a conflict. */
export const WRITE_ATTEMPTS = 20;

/** What one try of a contended write returns when another writer got there first. */
export const STALE: unique symbol = Symbol('stale');

/**
 * Runs `attempt` (read, then a transaction that compares what it read) until it returns anything
 * but STALE, waiting a little longer after each lost race; refuses after WRITE_ATTEMPTS, naming
 * `what` was being done. Errors thrown by `attempt` end it at once.
 */
export async function retryStale<T>(what: string, attempt: () => Promise<T | typeof STALE>): Promise<T> {
  for (let n = 1; ; n++) {
    const result = await attempt();
    if (result !== STALE) return result;
    if (n >= WRITE_ATTEMPTS) throw conflict(`${what} lost the race to other writers ${n} times in a row; retry it`);
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * n));
  }
}

export function toEvent(seq: number, time: string, input: Omit<NewEvent, 'type'>, type: EventType, phase?: Phase): StoreEvent {
  return {
    seq,
    time,
    service: input.service,
    releaseId: input.releaseId ?? null,
    type,
    ...(phase === undefined ? {} : { phase }),
    actor: input.actor,
    reason: input.reason,
    data: cloneJson(input.data ?? {}),
  };
}

export function parse<T>(kv: IKeyValue): T {
  return JSON.parse(kv.value.toString()) as T;
}

/** A counter's value: the event seq or a route generation; 0 when the key is not there. */
export function counterOf(kv: IKeyValue | null): number {
  return kv === null ? 0 : Number(kv.value.toString());
}

export const get = (key: string): IRequestOp => ({ request_range: { key: Buffer.from(key) } });
export const put = (key: string, value: string): IRequestOp => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } });
export const del = (key: string): IRequestOp => ({ request_delete_range: { key: Buffer.from(key) } });

/** The key is as it was read (its mod revision; 0 when it did not exist). */
export function modIs(key: string, read: IKeyValue | null): ICompare {
  return { key: Buffer.from(key), target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: read?.mod_revision ?? 0 };
}

export function valueIs(key: string, value: string): ICompare {
  return { key: Buffer.from(key), target: CompareTarget.Value, result: CompareResult.Equal, value: Buffer.from(value) };
}

export function absent(key: string): ICompare {
  return { key: Buffer.from(key), target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 };
}
