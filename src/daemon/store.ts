// The store the config names: SQLite in stateDir (one machine) or etcd (a fleet).
import type { Config } from '../config/types.ts';
import { EtcdStore } from '../store/etcd.ts';
import { SqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/types.ts';

export async function openStore(config: Config): Promise<Store> {
  const sc = config.store;
  return sc.kind === 'etcd' ? EtcdStore.connect({ endpoints: sc.endpoints, prefix: sc.prefix }) : SqliteStore.open(config.stateDir);
}
