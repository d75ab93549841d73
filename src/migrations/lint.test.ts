import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { lintFiles, lintSql, lintSqlWithAllowed } from './lint.ts';
import { RULES, type RuleId } from './rules.ts';

const FIXTURES = new URL('../../test/fixtures/migrations/', import.meta.url).pathname;
const rules = (sql: string): string[] => lintSql(sql, 'm.sql').map((f) => f.rule);

describe('each rule', () => {
  const cases: [RuleId, string][] = [
    ['drop-table', 'DROP TABLE users;'],
    ['drop-table', 'DROP VIEW IF EXISTS active_users;'],
    ['drop-column', 'ALTER TABLE users DROP COLUMN email;'],
    ['rename-table', 'ALTER TABLE users RENAME TO accounts;'],
    ['rename-table', 'ALTER TABLE users SET SCHEMA archive;'],
    ['rename-column', 'ALTER TABLE users RENAME COLUMN name TO full_name;'],
    ['alter-column-type', 'ALTER TABLE users ALTER COLUMN id TYPE bigint;'],
    ['set-not-null', 'ALTER TABLE users ALTER COLUMN email SET NOT NULL;'],
    ['add-column-not-null-without-default', 'ALTER TABLE users ADD COLUMN tenant_id bigint NOT NULL;'],
    ['drop-constraint', 'ALTER TABLE users DROP CONSTRAINT users_email_key;'],
    ['drop-index', 'DROP INDEX users_email;'],
    ['drop-index', 'DROP INDEX CONCURRENTLY users_email;'],
    ['create-index-without-concurrently', 'CREATE INDEX users_email ON users (email);'],
    ['long-lock', 'ALTER TABLE orders ADD CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id);'],
    ['long-lock', 'ALTER TABLE orders ADD CONSTRAINT total_positive CHECK (total > 0);'],
    ['long-lock', 'ALTER TABLE orders ADD CONSTRAINT orders_ref UNIQUE (ref);'],
    ['long-lock', 'ALTER TABLE orders ADD COLUMN ref uuid DEFAULT gen_random_uuid();'],
    ['long-lock', 'ALTER TABLE orders ADD COLUMN seq bigserial;'],
    ['long-lock', 'ALTER TABLE orders ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY;'],
    ['long-lock', 'LOCK TABLE orders;'],
    ['long-lock', 'VACUUM FULL orders;'],
    ['long-lock', 'CLUSTER orders USING orders_pkey;'],
    ['long-lock', 'REINDEX TABLE orders;'],
    ['long-lock', 'REFRESH MATERIALIZED VIEW order_totals;'],
  ];
  for (const [rule, sql] of cases) {
    test(`${rule} is reported for ${sql}`, () => {
      const findings = lintSql(sql, 'db/expand/001.sql');
      const f = findings.find((x) => x.rule === rule);
      assert.ok(f, `expected ${rule}, got ${JSON.stringify(findings.map((x) => x.rule))}`);
      assert.equal(f.severity, RULES[rule].severity);
      assert.equal(f.file, 'db/expand/001.sql');
      assert.equal(f.line, 1);
      assert.equal(f.statement, sql.slice(0, -1));
    });
  }

  test('the errors are the statements that break the old version, the warnings those that stall it', () => {
    const errors = cases.filter(([r]) => RULES[r].severity === 'error').map(([r]) => r);
    assert.deepEqual(
      new Set(errors),
      new Set([
        'drop-table',
        'drop-column',
        'rename-table',
        'rename-column',
        'alter-column-type',
        'set-not-null',
        'add-column-not-null-without-default',
        'drop-constraint',
        'drop-index',
      ]),
    );
  });

  test('a message says why it breaks blue-green and the expand/contract way to do it', () => {
    const [f] = lintSql('ALTER TABLE users DROP COLUMN email;', 'm.sql');
    assert.match(f!.message, /^drops column users\.email: the old version still selects and writes it .*; .*contract migration/);
  });

  test('one ALTER TABLE with several actions reports each of them', () => {
    assert.deepEqual(rules('ALTER TABLE t DROP COLUMN a, ALTER COLUMN b TYPE text, ALTER COLUMN c SET NOT NULL;'), [
      'drop-column',
      'alter-column-type',
      'set-not-null',
    ]);
  });
});

describe('what the expand phase may do', () => {
  const safe = [
    'ALTER TABLE users ADD COLUMN nickname text;',
    'ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true;',
    'ALTER TABLE users ADD COLUMN joined timestamptz NOT NULL DEFAULT now();',
    'CREATE INDEX CONCURRENTLY users_email ON users (email);',
    'ALTER TABLE orders ADD CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;',
    'ALTER TABLE orders VALIDATE CONSTRAINT orders_user;',
    'ALTER TABLE orders ADD CONSTRAINT orders_ref UNIQUE USING INDEX orders_ref_idx;',
    'ALTER TABLE users ALTER COLUMN email DROP NOT NULL;',
    'LOCK TABLE orders IN ROW EXCLUSIVE MODE;',
    'REINDEX TABLE CONCURRENTLY orders;',
    'VACUUM ANALYZE orders;',
    'UPDATE users SET nickname = name WHERE nickname IS NULL;',
    'DROP TRIGGER IF EXISTS old_touch ON users;',
  ];
  for (const sql of safe) {
    test(`${sql} passes`, () => assert.deepEqual(lintSql(sql, 'm.sql'), []));
  }

  test('a table created earlier in the same file is new: the old version does not use it yet', () => {
    const sql = `CREATE TABLE audit (id bigint, at timestamptz);
ALTER TABLE audit ADD COLUMN who text NOT NULL;
ALTER TABLE audit ALTER COLUMN at SET NOT NULL;
CREATE INDEX audit_at ON audit (at);
ALTER TABLE audit ADD CONSTRAINT audit_pk PRIMARY KEY (id);`;
    assert.deepEqual(lintSql(sql, 'm.sql'), []);
  });

  test('a real-world file with constraints, functions with $$ bodies, DO blocks and comments parses cleanly', () => {
    const text = readFileSync(path.join(FIXTURES, 'realworld.sql'), 'utf8');
    assert.deepEqual(lintSqlWithAllowed(text, 'realworld.sql'), { findings: [], allowed: [] });
  });

  test('an empty file or one with only comments has nothing to report', () => {
    assert.deepEqual(lintSql('', 'm.sql'), []);
    assert.deepEqual(lintSql('-- nothing yet\n/* later */\n', 'm.sql'), []);
  });
});

describe('line numbers', () => {
  test("each finding carries the line of its statement's first token across a multi-statement file", () => {
    const sql = [
      '-- expand: 2026-11 user profiles (café edition, non-ASCII bytes before the statements)', // 1
      'ALTER TABLE users ADD COLUMN bio text;', // 2
      '', // 3
      '/* a block comment', // 4
      '   over two lines */ ALTER TABLE users', // 5
      '  DROP COLUMN legacy;', // 6
      "INSERT INTO notes VALUES ('a; b'); DROP TABLE old_notes;", // 7
      '', // 8
      '   ', // 9
      '  CREATE INDEX users_bio', // 10
      '    ON users (bio);', // 11
    ].join('\n');
    assert.deepEqual(
      lintSql(sql, 'm.sql').map((f) => `${f.line}:${f.rule}`),
      ['5:drop-column', '7:drop-table', '10:create-index-without-concurrently'],
    );
  });

  test("a statement PostgreSQL cannot parse is an error with the parser's message and line", () => {
    const [f, ...rest] = lintSql('ALTER TABLE users ADD COLUMN bio text;\n\nALTER TABLE users ADD COLUMN;\n', 'm.sql');
    assert.deepEqual(rest, []);
    assert.equal(f!.rule, 'parse-error');
    assert.equal(f!.severity, 'error');
    assert.equal(f!.line, 3);
    assert.match(f!.message, /^syntax error at or near ";"/);
  });
});

describe('the allow annotation', () => {
  test('a comment on the line before lets that one statement through, with its reason', () => {
    const sql = `-- cutover:allow drop-column v2.3 stopped reading it; v2.2 is gone everywhere
ALTER TABLE users DROP COLUMN legacy;
ALTER TABLE users DROP COLUMN other;`;
    const { findings, allowed } = lintSqlWithAllowed(sql, 'm.sql');
    assert.deepEqual(
      findings.map((f) => `${f.line}:${f.rule}`),
      ['3:drop-column'],
    );
    assert.deepEqual(allowed, [
      {
        file: 'm.sql',
        line: 2,
        rule: 'drop-column',
        reason: 'v2.3 stopped reading it; v2.2 is gone everywhere',
        statement: 'ALTER TABLE users DROP COLUMN legacy',
      },
    ]);
  });

  test('it works after the statement on the same line and inside the statement too', () => {
    const sql = `DROP INDEX users_old; -- cutover:allow drop-index replaced by users_new in the last release
ALTER TABLE users
  -- cutover:allow long-lock the table has 40 rows
  ADD CONSTRAINT users_age CHECK (age >= 0);
CREATE INDEX users_x ON users (x);`;
    const { findings, allowed } = lintSqlWithAllowed(sql, 'm.sql');
    assert.deepEqual(
      allowed.map((a) => `${a.line}:${a.rule}:${a.reason}`),
      ['1:drop-index:replaced by users_new in the last release', '2:long-lock:the table has 40 rows'],
    );
    assert.deepEqual(
      findings.map((f) => `${f.line}:${f.rule}`),
      ['5:create-index-without-concurrently'],
    );
  });

  test('it lets through only the rules it names', () => {
    const sql = `-- cutover:allow drop-column,set-not-null backfilled in release 41
ALTER TABLE t DROP COLUMN a, ALTER COLUMN b SET NOT NULL, ALTER COLUMN c TYPE text;`;
    const { findings, allowed } = lintSqlWithAllowed(sql, 'm.sql');
    assert.deepEqual(
      allowed.map((a) => a.rule),
      ['drop-column', 'set-not-null'],
    );
    assert.deepEqual(
      findings.map((f) => f.rule),
      ['alter-column-type'],
    );
  });

  test('without a reason or with an unknown rule it lets nothing through and says why', () => {
    const noReason = lintSql('-- cutover:allow drop-column\nALTER TABLE t DROP COLUMN a;', 'm.sql');
    assert.deepEqual(
      noReason.map((f) => `${f.line}:${f.rule}`),
      ['1:bad-annotation', '2:drop-column'],
    );
    assert.match(noReason[0]!.message, /gives no reason/);
    const typo = lintSql('-- cutover:allow drop-colum it is fine\nALTER TABLE t DROP COLUMN a;', 'm.sql');
    assert.deepEqual(
      typo.map((f) => f.rule),
      ['bad-annotation', 'drop-column'],
    );
    assert.match(typo[0]!.message, /unknown rule drop-colum/);
  });

  test('one that lets nothing through is a warning, and text inside a string is no annotation', () => {
    const unused = lintSql('-- cutover:allow drop-table old habit\nALTER TABLE t ADD COLUMN a text;', 'm.sql');
    assert.deepEqual(
      unused.map((f) => `${f.severity}:${f.rule}`),
      ['warning:unused-allow'],
    );
    const inString = lintSql("SELECT '-- cutover:allow drop-table sneaky';\nDROP TABLE t;", 'm.sql');
    assert.deepEqual(
      inString.map((f) => f.rule),
      ['drop-table'],
    );
  });
});

describe('lintFiles', () => {
  test('lints every file the pattern matches, in name order, named relative to cwd', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cutover-lint-'));
    try {
      mkdirSync(path.join(dir, 'db/expand'), { recursive: true });
      writeFileSync(path.join(dir, 'db/expand/002_b.sql'), '-- cutover:allow drop-index superseded\nDROP INDEX i;\n');
      writeFileSync(path.join(dir, 'db/expand/001_a.sql'), 'ALTER TABLE t ADD COLUMN c text;\nALTER TABLE t DROP COLUMN d;\n');
      writeFileSync(path.join(dir, 'db/expand/notes.txt'), 'DROP TABLE t;');
      const r = await lintFiles('db/expand/*.sql', dir);
      assert.deepEqual(r.files, ['db/expand/001_a.sql', 'db/expand/002_b.sql']);
      assert.deepEqual(
        r.findings.map((f) => `${f.file}:${f.line}: ${f.rule}`),
        ['db/expand/001_a.sql:2: drop-column'],
      );
      assert.deepEqual(
        r.allowed.map((a) => `${a.file}:${a.line}: ${a.rule}: ${a.reason}`),
        ['db/expand/002_b.sql:2: drop-index: superseded'],
      );
      const abs = await lintFiles(path.join(dir, 'db/expand/*.sql'), dir);
      assert.deepEqual(abs.files, r.files);
      assert.deepEqual(await lintFiles('db/none/*.sql', dir), { files: [], findings: [], allowed: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
