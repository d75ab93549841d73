// Expand and contract inside real releases on a real PostgreSQL: v1 and v2 share one database, the
// expand migration adds v2's column before v2 starts, users see no error through the switch, contract
// waits for retire, a destructive expand is refused before anything runs, and rollback past a
// contract is refused with the reason.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startPostgres, type Postgres } from './fixtures/migrations/postgres.ts';
import { waitFor } from './helpers.ts';
import { cleanup, deploy, startUp, steadyLoad, waitPhase, writeSetup, type Running, type Setup } from './lifecycle-helpers.ts';

const APP = fileURLToPath(new URL('./fixtures/migrations/app/', import.meta.url));

describe('a release with expand and contract migrations', { timeout: 240_000 }, () => {
  let pg: Postgres;
  let s: Setup;
  let d: Running;
  const columns = async (): Promise<string> =>
    (
      await pg.sql(
        "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'items'",
      )
    ).trim();

  before(async () => {
    pg = await startPostgres();
    await pg.sql(
      'CREATE TABLE items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, price integer NOT NULL, note text);',
    );
    s = await writeSetup({
      provider: { kind: 'process', command: [process.execPath, join(APP, 'server.js'), '{version}'], replicas: 2, stopGrace: '2s' },
      standby: '4s',
      // Every request of this app runs psql: on a loaded machine one takes well over a second, and a
      // request still running on the old slot when its drain ends is cut (what drain means).
      drain: '5s',
      migrations: {
        expand: 'sh migrate.sh db/expand',
        contract: 'sh migrate.sh db/contract',
        lint: 'db/expand/*.sql',
        database: 'DATABASE_URL',
      },
    });
    // The project's migration files live beside the config, like a real repository's db/ folder.
    cpSync(join(APP, 'migrate.sh'), join(s.dir, 'migrate.sh'));
    mkdirSync(join(s.dir, 'db'));
    process.env.DATABASE_URL = pg.url;
    d = await startUp(s);
  });
  after(async () => {
    await d?.stop();
    await pg?.stop();
    if (s) cleanup(s);
    delete process.env.DATABASE_URL;
  });

  test('v1 goes live with nothing to migrate', async () => {
    mkdirSync(join(s.dir, 'db/expand'));
    mkdirSync(join(s.dir, 'db/contract'));
    const r = await deploy(d, 'v1');
    await waitPhase(d, r.id, ['promoted', 'retired']);
    assert.equal(await columns(), 'id,name,price,note');
  });

  test('a destructive expand migration is refused before anything runs, and v1 keeps serving', async () => {
    cpSync(join(APP, 'expand-destructive'), join(s.dir, 'db/expand'), { recursive: true });
    const r = await deploy(d, 'v2');
    const end = await waitFor('the release to fail', async () => {
      const x = await d.api('GET', `/api/v1/services/web/releases/${r.id}`);
      return x.json.phase === 'failed' ? x.json : undefined;
    });
    assert.match(end.reason, /drop-column/);
    assert.equal(await columns(), 'id,name,price,note', 'no migration file ran');
    const v = (await fetch(`http://127.0.0.1:${s.port}/version`).then((x) => x.json())) as { version: string };
    assert.equal(v.version, 'v1');
  });

  test('v2 deploys under a steady load: expand adds its column first, no user request fails, contract waits for retire', async () => {
    const { rmSync } = await import('node:fs');
    rmSync(join(s.dir, 'db/expand'), { recursive: true });
    cpSync(join(APP, 'expand'), join(s.dir, 'db/expand'), { recursive: true });
    cpSync(join(APP, 'contract'), join(s.dir, 'db/contract'), { recursive: true });
    const load = steadyLoad(s.port, 4);
    try {
      const r = await deploy(d, 'v2');
      await waitPhase(d, r.id, ['promoted', 'retired'], 60_000);
      assert.equal(await columns(), 'id,name,price,note,sku', 'expand ran; contract has not: v1 is still on standby');
      const result = await load.stop();
      assert.deepEqual(result.failures.slice(0, 3), [], `${result.failures.length} failed requests`);
      assert.ok((result.versions.get('v1') ?? 0) > 0 && (result.versions.get('v2') ?? 0) > 0, 'both versions served users');

      // Standby runs out (4 s): v1 is stopped, then contract drops the column only v1 used.
      await waitFor(
        'the release to retire and contract to run',
        async () => ((await columns()) === 'id,name,price,sku' ? true : undefined),
        60_000,
      );
      // The contract's result is recorded once its command has exited, a moment after the column is gone.
      const kindsNow = async (): Promise<string[]> => {
        const events = (await d.api('GET', `/api/v1/services/web/releases/${r.id}`)).json.events as {
          type: string;
          data: { kind?: string; ok?: boolean };
        }[];
        return events.filter((e) => e.type === 'migration').map((e) => `${e.data.kind}:${e.data.ok ?? ''}`);
      };
      const kinds = await waitFor('the contract recorded', async () => ((await kindsNow()).length >= 3 ? kindsNow() : undefined), 15_000);
      assert.deepEqual(kinds, ['lint:', 'expand:true', 'contract:true']);

      const back = await d.api('POST', '/api/v1/services/web/rollback');
      assert.equal(back.status, 409);
      assert.match(back.json.error.message, /contract migration .* ran/);
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  });
});
