// Runs the Store contract on every implementation we ship.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeContract } from './contract.ts';
import { MemoryStore } from './memory.ts';
import { SqliteStore } from './sqlite.ts';

storeContract('memory', async () => {
  const store = new MemoryStore();
  return { store, dispose: () => store.close() };
});

storeContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-store-'));
  const store = SqliteStore.open(join(dir, '.cutover'));
  return {
    store,
    dispose: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
