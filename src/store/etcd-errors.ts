// What the etcd store says when etcd cannot answer: a CutoverError the API and the CLI show as they
// are, saying how much of the cluster is reachable and whether the change was made.

import { CutoverError, type ErrorCode } from '../errors.ts';

/** 503: the request was fine; the store could not take it now. */
export const STORE_UNAVAILABLE: ErrorCode = 'CUTOVER_E_STORE_UNAVAILABLE';

/** What a probe of every member found, for the message. */
export interface Reachability {
  reachable: number;
  members: number;
  /** Whether any reachable member knows a leader: with one, the cluster has a quorum. */
  leader: boolean;
}

/**
 * - `not-made`: etcd refused before proposing (no leader, no connection): the change did not happen.
 * - `unknown`: the answer was lost after etcd may have accepted it, and the store could not find out
 *   whether it did; it may still take effect, so read the state again before retrying.
 * - `read`: a read, nothing to undo.
 */
export type Outcome = 'not-made' | 'unknown' | 'read';

export class StoreUnavailableError extends CutoverError {
  readonly reachability: Reachability;
  readonly outcome: Outcome;
  constructor(reach: Reachability, outcome: Outcome, options?: ErrorOptions) {
    super(STORE_UNAVAILABLE, unavailableMessage(reach, outcome), 503, options);
    this.name = 'StoreUnavailableError';
    this.reachability = reach;
    this.outcome = outcome;
  }
}

function unavailableMessage(reach: Reachability, outcome: Outcome): string {
  const count = `${reach.reachable} of ${reach.members} member${reach.members === 1 ? '' : 's'} reachable`;
  const quorum = Math.floor(reach.members / 2) + 1;
  const what =
    outcome === 'not-made'
      ? 'the change was not made'
      : outcome === 'unknown'
        ? 'the change was not confirmed and may still take effect, so read the state again before retrying'
        : 'nothing could be read';
  if (reach.reachable < quorum || !reach.leader) {
    const then = outcome === 'unknown' ? '' : ', then retry';
    return (
      `etcd has no quorum (${count}): ${what}. ` +
      `Start the stopped members or repair the network between them (${quorum} of ${reach.members} must be up)${then}`
    );
  }
  const next = outcome === 'unknown' ? 'If it keeps happening' : 'Retry; if it keeps happening';
  return `etcd did not answer in time (${count}, with a leader): ${what}. ${next}, check \`etcdctl endpoint status\``;
}
