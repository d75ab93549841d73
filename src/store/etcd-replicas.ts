// The etcd store's ReplicaBook: the process provider's replica records, per node. A node is one
// machine's stateDir: its supervisor is the parent of the replicas, so only a controller on that
// machine and stateDir can adopt them. Two controllers on two machines sharing one etcd prefix (a
// fleet's leader and a follower that takes over) each see and remove their own node's records only;
// without the node in the key a new leader would take the other machine's records for stale ones
// (no such process runs here) and remove them.
//
// Why the host name and the stateDir, not a fleet id: the controller's fleet id has its pid in it (a
// restarted controller is a new one), a router's id names a listener; the supervisor is found by the
// stateDir, and a stateDir is one machine's. A node needs nothing stored to be known again after a
// restart, and one whose stateDir was wiped cleans up its old records the next time it starts.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { IRequestOp } from 'etcd3';
import type { EtcdIo } from './etcd-io.ts';
import type { Keys } from './etcd-keys.ts';
import { del, parse, put } from './etcd-ops.ts';
import type { ReplicaBook, ReplicaRecord } from './types.ts';

/** Records per transaction: below etcd's default --max-txn-ops (128), with the write's witness key. */
const RECORDS_PER_TXN = 100;

/** The node a stateDir's supervisor is: this machine's host name and the stateDir's absolute path. */
export function replicaNode(stateDir: string): string {
  return `${hostname()}:${resolve(stateDir)}`;
}

/** Each write is one etcd transaction per RECORDS_PER_TXN records, committed by a quorum before it resolves. */
export function etcdReplicaBook(io: EtcdIo, k: Keys, node: string): ReplicaBook {
  /**
   * Puts and deletes are idempotent, so no compare is needed; the witness is a key of the node's own
   * written with a fresh value each time, so a lost answer is settled by whether that value is there
   * (a record's own value would not do: writing a record as it already is leaves no trace).
   */
  const writeAll = async (ops: IRequestOp[]): Promise<void> => {
    for (let i = 0; i < ops.length; i += RECORDS_PER_TXN) {
      const witness = { key: k.replicaWrite(node), value: randomUUID() };
      const chunk = [...ops.slice(i, i + RECORDS_PER_TXN), put(witness.key, witness.value)];
      await io.write((commit) => commit({ success: chunk }, { witness }));
    }
  };
  return {
    put: (records) => writeAll(records.map((r) => put(k.replica(node, r.id), JSON.stringify(recordOf(r))))),
    remove: (ids) => writeAll(ids.map((id) => del(k.replica(node, id)))),
    list: (service) =>
      io.read(async () => {
        const all = (await io.range(k.replicasOfNode(node))).map((kv) => parse<ReplicaRecord>(kv));
        return all.filter((r) => r.service === service).sort((a, b) => cmp(a.slot, b.slot) || a.index - b.index || cmp(a.id, b.id));
      }),
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Exactly the record's fields: a caller's object may carry more. */
function recordOf(r: ReplicaRecord): ReplicaRecord {
  return {
    id: r.id,
    service: r.service,
    slot: r.slot,
    version: r.version,
    index: r.index,
    address: r.address,
    pid: r.pid,
    startTime: r.startTime,
  };
}
