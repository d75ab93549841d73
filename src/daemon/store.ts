// The store the config names: SQLite in stateDir (one machine) or etcd (a fleet), whose replica
// records are this machine's and stateDir's own.
import type { Config } from '../config/types.ts';
import { EtcdStore } from '../store/etcd.ts';
import { replicaNode } from '../store/etcd-replicas.ts';
import { SqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/types.ts';

export async function openStore(config: Config): Promise<Store> {
  const sc = config.store;
  return sc.kind === 'etcd'
    ? EtcdStore.connect({ endpoints: sc.endpoints, prefix: sc.prefix, node: replicaNode(config.stateDir) })
    : SqliteStore.open(config.stateDir);
}
