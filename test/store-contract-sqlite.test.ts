// Runs the Store contract on SQLite (and on the memory store the unit tests use); etcd-store.test.ts
// runs it on etcd.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeContract } from './store-contract.ts';
import { MemoryStore } from './fixtures/memory-store.ts';
import { SqliteStore } from '../src/store/sqlite.ts';

storeContract(
  'memory',
  async () => {
    const store = new MemoryStore();
    return { store, dispose: () => store.close() };
  },
  { grouped: true },
);

storeContract(
  'sqlite',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cutover-store-'));
    const store = SqliteStore.open(join(dir, '.cutover'));
    return {
      store,
      dispose: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
      reopen: async () => SqliteStore.open(join(dir, '.cutover')),
    };
  },
  { grouped: true, replicas: true },
);
