// Expand/contract on a real PostgreSQL server: v1 and v2 of a small app share one database while
// migrations run under a steady load. The app is psql (one connection per request, like a small
// service without a pool); the migration tool is test/fixtures/migrations/app/migrate.sh.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MigrationUnsafeError } from '../src/migrations/errors.ts';
import { lintBeforeExpand, runMigration, type MigrationKind, type MigrationResult } from '../src/migrations/runner.ts';
import { psql, serverBin, startPostgres, type Postgres } from './fixtures/migrations/postgres.ts';

const APP = fileURLToPath(new URL('./fixtures/migrations/app/', import.meta.url));

type Version = 'v1' | 'v2';

/** What each version of the app does per request: write a row, read the latest ones. */
const requests: Record<Version, (n: number) => string> = {
  v1: (n) =>
    `INSERT INTO items (name, price, note) VALUES ('v1-${n}', ${n}, 'from v1'); SELECT id, name, price, note FROM items ORDER BY id DESC LIMIT 5;`,
  v2: (n) =>
    `INSERT INTO items (name, price, sku) VALUES ('v2-${n}', ${n}, 'SKU-${n}'); SELECT id, name, price, sku FROM items WHERE sku IS NOT NULL ORDER BY id DESC LIMIT 5;`,
};

interface Request {
  version: Version;
  start: number;
  end: number;
}

/** A steady load of `workers` loops, each sending its next request to the live version; bounded by `maxMs`. */
class Load {
  live: Version = 'v1';
  readonly done: Request[] = [];
  readonly errors: string[] = [];
  #stopped = false;
  #loops: Promise<void>[] = [];
  #n = 0;

  constructor(url: string, workers = 2, maxMs = 60_000) {
    const deadline = Date.now() + maxMs;
    for (let w = 0; w < workers; w++) {
      this.#loops.push(
        (async () => {
          while (!this.#stopped && Date.now() < deadline) {
            const version = this.live;
            const start = performance.now();
            const r = await psql(url, requests[version](++this.#n));
            if (r.code === 0) this.done.push({ version, start, end: performance.now() });
            else this.errors.push(`${version}: ${r.stderr.trim()}`);
          }
        })(),
      );
    }
  }

  count(version: Version): number {
    return this.done.filter((r) => r.version === version).length;
  }

  /** Waits until `n` more requests of `version` succeeded (bounded). */
  async more(version: Version, n: number, timeoutMs = 20_000): Promise<void> {
    const target = this.count(version) + n;
    const deadline = Date.now() + timeoutMs;
    while (this.count(version) < target) {
      if (Date.now() > deadline)
        throw new Error(
          `load: only ${this.count(version)} of ${target} ${version} requests within ${timeoutMs} ms; errors: ${this.errors.join(' | ')}`,
        );
      if (this.errors.length > 0) throw new Error(`load: ${this.errors.join(' | ')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#loops);
  }
}

describe('expand and contract on PostgreSQL', { timeout: 180_000 }, () => {
  let pg: Postgres;
  let load: Load | undefined;
  const run = (kind: MigrationKind, folder: string): Promise<MigrationResult> =>
    runMigration(kind, `sh migrate.sh ${folder}`, { cwd: APP, databaseEnvName: 'DATABASE_URL', databaseUrl: pg.url, timeoutMs: 30_000 });
  /** What the controller does in provisioning: lint, then run expand only when the lint passes. */
  const expand = async (folder: string): Promise<MigrationResult> => {
    await lintBeforeExpand(`${folder}/*.sql`, APP);
    return run('expand', folder);
  };
  const columns = async (): Promise<string> =>
    (
      await pg.sql(
        "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'items'",
      )
    ).trim();

  before(async () => {
    // CI installs the server (.ci/run); a machine without it fails here, loudly, rather than skipping.
    assert.ok(serverBin(), 'PostgreSQL server binaries missing; run `bash scripts/install-system-deps.sh postgresql`');
    pg = await startPostgres();
    await pg.sql(`CREATE TABLE items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, price integer NOT NULL, note text);
      INSERT INTO items (name, price, note) SELECT 'seed-' || i, i, 'seed' FROM generate_series(1, 1000) AS i;`);
  });
  after(async () => {
    await load?.stop();
    await pg?.stop();
  });

  test('v1 keeps working while expand adds a column, v2 uses it, and a steady load sees zero errors through the switch', async () => {
    const l = (load = new Load(pg.url));
    try {
      await l.more('v1', 10);
      const from = performance.now();
      const r = await expand('expand');
      const to = performance.now();
      assert.equal(r.ok, true, r.output);
      assert.match(r.output, /applied expand\/001_add_sku\.sql/);
      assert.equal(await columns(), 'id,name,price,note,sku');
      const during = l.done.filter((q) => q.version === 'v1' && q.start > from && q.start < to).length;
      assert.ok(during >= 2, `v1 served ${during} requests that started while the migration ran; expected a steady stream`);

      await l.more('v1', 5);
      l.live = 'v2'; // the switch: the next request of every worker goes to v2
      await l.more('v2', 20);
    } finally {
      await l.stop();
    }
    assert.deepEqual(l.errors, []);

    const rows = (
      await pg.sql(
        "SELECT count(*) FILTER (WHERE name LIKE 'v1-%' AND sku IS NULL), count(*) FILTER (WHERE name LIKE 'v2-%' AND sku LIKE 'SKU-%') FROM items",
      )
    )
      .trim()
      .split('|');
    assert.equal(Number(rows[0]), l.count('v1'), 'every v1 row landed, without a sku');
    assert.equal(Number(rows[1]), l.count('v2'), 'every v2 row landed with its sku');
  });

  test('a destructive expand migration is refused before anything runs, and the table is unchanged', async () => {
    const before = await columns();
    await assert.rejects(expand('expand-destructive'), (err: unknown) => {
      assert.ok(err instanceof MigrationUnsafeError);
      assert.deepEqual(
        err.findings.map((f) => `${f.file}:${f.line}: ${f.rule}`),
        ['expand-destructive/002_drop_price.sql:2: drop-column'],
      );
      return true;
    });
    // Not even the harmless first file ran: the lint judges the whole expand before any of it.
    assert.equal(await columns(), before);
    assert.equal(before, 'id,name,price,note,sku');
  });

  test('contract drops what only v1 used once v1 is gone, with v2 under load, and would have broken v1', async () => {
    const l = (load = new Load(pg.url));
    l.live = 'v2';
    try {
      await l.more('v2', 5);
      const r = await run('contract', 'contract');
      assert.equal(r.ok, true, r.output);
      await l.more('v2', 10);
    } finally {
      await l.stop();
    }
    assert.deepEqual(l.errors, []);
    assert.equal(await columns(), 'id,name,price,sku');

    // Why contract waits for the old slot's retirement: the same step under v1 fails its writes.
    const v1 = await psql(pg.url, requests.v1(0));
    assert.notEqual(v1.code, 0);
    assert.match(v1.stderr, /column "note" of relation "items" does not exist/);
  });

  test('a failing migration is reported with what the database said', async () => {
    const r = await run('contract', 'contract'); // note is gone already
    assert.equal(r.ok, false);
    assert.notEqual(r.exitCode, 0);
    assert.match(r.output, /column "note" of relation "items" does not exist/);
  });
});
