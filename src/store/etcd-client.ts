// The etcd3 client as the etcd store uses it: every call has a deadline, a member without a leader
// refuses at once instead of holding the call until it times out, a failure moves on to the next
// member, and a failure etcd could not serve becomes a StoreUnavailableError that says how many
// members are reachable.

import { createRequire } from 'node:module';
import {
  Etcd3,
  EtcdError,
  GRPCDeadlineExceededError,
  GRPCGenericError,
  GRPCUnavailableError,
  isRecoverableError,
  type IOptions,
  type IStatusResponse,
} from 'etcd3';
import { CutoverError } from '../errors.ts';
import { StoreUnavailableError, type Outcome, type Reachability } from './etcd-errors.ts';

// etcd3's own copies of its fault-handling library and of gRPC, so policies and interceptors are of
// the kind it expects (neither is a dependency of ours).
const fromEtcd3 = createRequire(import.meta.resolve('etcd3'));
const cockatiel = fromEtcd3('cockatiel') as typeof import('cockatiel');
const grpc = fromEtcd3('@grpc/grpc-js') as typeof import('@grpc/grpc-js');

export const DEFAULT_REQUEST_TIMEOUT = 5000;
/** A probe of one member, after a failure, to say how much of the cluster is reachable. */
const PROBE_TIMEOUT = 1000;
/** A member that failed this many calls in a row is skipped for HOST_REST_MS, then tried again. */
const HOST_FAILURES = 3;
const HOST_REST_MS = 1000;
/** Retries of a call every member turned away, RETRY_DELAY_MS apart. */
const RETRIES = 30;
const RETRY_DELAY_MS = 100;
/** The longest wait between two tries of a broken watch. */
const WATCH_RETRY_MAX_MS = 2000;

const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

type CallOptions = Exclude<NonNullable<IOptions['defaultCallOptions']>, (...args: never[]) => unknown>;
type Interceptor = NonNullable<CallOptions['interceptors']>[number];

/**
 * etcd answers a call carrying `hasleader: true` with "etcdserver: no leader" (UNAVAILABLE) when the
 * member has none, instead of proposing (a write) or waiting for a read index (a read) until the
 * deadline: without a quorum a write is refused once the retries below give up, not left hanging,
 * and it was certainly not made.
 */
const requireLeader: Interceptor = (options, nextCall) =>
  new grpc.InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      metadata.set('hasleader', 'true');
      next(metadata, listener);
    },
  });

export function createClient(endpoints: string[], requestTimeoutMs: number): Etcd3 {
  return new Etcd3({
    hosts: endpoints,
    // A thousand events with their data can pass gRPC's default 4 MiB for one answer.
    grpcOptions: { 'grpc.max_receive_message_length': MAX_ANSWER_BYTES },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + requestTimeoutMs, interceptors: [requireLeader] }),
    faultHandling: {
      // A watch that broke (its member stopped, quorum lost) tries again at most this far apart: with
      // etcd3's default (up to 30 s) a fleet router could follow no switch for half a minute after
      // etcd was back. Trying every 2 s at most costs the cluster one small call per watcher.
      // (etcd3's type says a backoff; it takes the factory, calling next() on it as on its own default.)
      watchBackoff: new cockatiel.ExponentialBackoff({ initialDelay: 100, maxDelay: WATCH_RETRY_MAX_MS }) as never,
      // Another member may serve what this one turned away (it is down, or has no leader while an
      // election runs): try again for about three seconds, long enough for an election after a
      // leader crashed (1-2 election timeouts of 1 s). Not after a deadline or a lost leader: the
      // call may have been applied, and a retry would hide that.
      global: cockatiel.retry(
        cockatiel.handleWhen((err) => classify(err) === 'refused'),
        {
          maxAttempts: RETRIES,
          backoff: new cockatiel.ConstantBackoff(RETRY_DELAY_MS),
        },
      ),
      host: () =>
        cockatiel.circuitBreaker(cockatiel.handleWhen(isRecoverableError), {
          halfOpenAfter: HOST_REST_MS,
          breaker: new cockatiel.ConsecutiveBreaker(HOST_FAILURES),
        }),
    },
  });
}

/**
 * Whether `err` means etcd could not serve the call now (as opposed to a bad request or a bug):
 * `refused` when it was turned away before any proposal (no connection, no leader), `timed-out`
 * when it may have been proposed.
 */
export function classify(err: unknown): 'refused' | 'timed-out' | null {
  if (!(err instanceof Error)) return null;
  if (cockatiel.isBrokenCircuitError(err)) return 'refused';
  // Before the classes: "leader changed" also comes as UNAVAILABLE, after the proposal was made.
  if (/leader changed|request timed out|too many requests/.test(err.message)) return 'timed-out';
  if (/no leader|raft proposal dropped/.test(err.message)) return 'refused';
  if (err instanceof GRPCUnavailableError) return 'refused';
  if (err instanceof GRPCDeadlineExceededError) return 'timed-out';
  // An alarm (out of space) is not a timeout: it stays until an operator acts.
  if (/space exceeded|corrupt/.test(err.message)) return null;
  if (err instanceof EtcdError || isRecoverableError(err)) return 'timed-out';
  return null;
}

/**
 * Runs a read again when etcd dropped it because the leader changed (a read index lost with a
 * crashed leader): a read changes nothing, so unlike a write it is safe to ask again.
 */
export async function readAgain<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= RETRIES || !(err instanceof Error) || !/leader changed/.test(err.message)) throw err;
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
    }
  }
}

/**
 * Asks every member (the cluster's member list when a member can give it, else the configured
 * endpoints) for its status, without requiring a leader.
 */
export async function probe(endpoints: string[]): Promise<Reachability> {
  const statusOf = async (url: string): Promise<IStatusResponse | null> => {
    const one = new Etcd3({
      hosts: url,
      faultHandling: { global: cockatiel.noop, host: () => cockatiel.noop },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + PROBE_TIMEOUT }),
    });
    try {
      return await one.maintenance.status();
    } catch {
      return null;
    } finally {
      one.close();
    }
  };
  const lists = await Promise.all(endpoints.map(memberUrls));
  const urls = lists.find((l) => l !== null && l.length > 0) ?? endpoints;
  const statuses = await Promise.all(urls.map(statusOf));
  const up = statuses.filter((s) => s !== null);
  return { reachable: up.length, members: urls.length, leader: up.some((s) => s.leader !== '0') };
}

/** Client URLs of every member, as `url` knows them (a local answer: it needs no quorum). */
async function memberUrls(url: string): Promise<string[] | null> {
  const one = new Etcd3({
    hosts: url,
    faultHandling: { global: cockatiel.noop, host: () => cockatiel.noop },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + PROBE_TIMEOUT }),
  });
  try {
    const res = await one.cluster.memberList({});
    return res.members.map((m) => m.clientURLs[0] ?? m.peerURLs[0] ?? m.name);
  } catch {
    return null;
  } finally {
    one.close();
  }
}

/**
 * Where an operation was when it failed: reading, before its write was sent (so nothing was
 * written), or with its write sent and not yet answered.
 */
export type Stage = 'read' | 'before-write' | 'write';

/**
 * Runs `fn`; when etcd could not serve it, probes the cluster and throws a StoreUnavailableError.
 * CutoverErrors (refusals the store decided) pass through; etcd's other refusals become
 * CUTOVER_E_INTERNAL.
 */
export async function callEtcd<T>(endpoints: string[], stage: () => Stage, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CutoverError) throw err;
    const kind = classify(err);
    if (kind !== null) {
      const at = stage();
      const outcome: Outcome = at === 'read' ? 'read' : at === 'before-write' || kind === 'refused' ? 'not-made' : 'unknown';
      throw new StoreUnavailableError(await probe(endpoints), outcome, { cause: err });
    }
    // Not from etcd or gRPC: a bug of ours, with its own stack.
    if (!(err instanceof GRPCGenericError || err instanceof EtcdError)) throw err;
    throw new CutoverError(
      'CUTOVER_E_INTERNAL',
      `etcd refused a request of the store (${err instanceof Error ? err.message : String(err)}); ` +
        'check the cluster with `etcdctl endpoint status` and `etcdctl alarm list`, and report it if the cluster is healthy',
      500,
      { cause: err },
    );
  }
}
