// `cutover migrations lint -c FILE` as a user runs it: a real config, real SQL files, the real CLI.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = path.join(ROOT, 'src/cli/main.ts');
const FIXTURES = path.join(ROOT, 'test/fixtures/migrations');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cutover(args: string[], cwd: string, timeoutMs = 20_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const service = (lint: string): string => `
    listen: 127.0.0.1:18080
    provider: { kind: process, command: [node, app.js] }
    migrations: { expand: sh expand.sh, contract: sh contract.sh, lint: ${lint}, database: DATABASE_URL }`;

let dir = '';
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cutover-migrations-cli-'));
  await mkdir(path.join(dir, 'deploy/web/expand'), { recursive: true });
  await mkdir(path.join(dir, 'deploy/api/expand'), { recursive: true });
  await copyFile(path.join(FIXTURES, 'realworld.sql'), path.join(dir, 'deploy/web/expand/001_orders.sql'));
  await writeFile(
    path.join(dir, 'deploy/web/expand/002_index.sql'),
    '-- a plain index build: a warning, not a refusal\nCREATE INDEX orders_total ON orders (total_cents);\n',
  );
  await copyFile(path.join(FIXTURES, 'destructive.sql'), path.join(dir, 'deploy/api/expand/001_rename.sql'));
  await writeFile(
    path.join(dir, 'deploy/api/expand/002_drop.sql'),
    'ALTER TABLE items ADD COLUMN sku text;\n\n-- cutover:allow drop-index replaced by items_sku in release 12\nDROP INDEX items_legacy;\nALTER TABLE items DROP COLUMN price;\n',
  );
  // The config lives in deploy/; its lint patterns are relative to that folder.
  await writeFile(
    path.join(dir, 'deploy/cutover.yaml'),
    `services:\n  web:${service('web/expand/*.sql')}\n  api:${service('api/expand/*.sql').replace('18080', '18081')}\n`,
  );
  await writeFile(
    path.join(dir, 'deploy/none.yaml'),
    `services:\n  web:\n    listen: 127.0.0.1:18080\n    provider: { kind: process, command: [node, app.js] }\n`,
  );
});
after(() => rm(dir, { recursive: true, force: true }));

test('a destructive expand migration exits 2 with one file:line: rule: message line per finding', async () => {
  const r = await cutover(['migrations', 'lint', '-c', 'deploy/cutover.yaml'], dir);
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(
    lines[0]!,
    /^deploy\/web\/expand\/002_index\.sql:2: create-index-without-concurrently: builds index orders_total on orders: .*CONCURRENTLY/,
  );
  assert.match(
    lines[1]!,
    /^deploy\/api\/expand\/001_rename\.sql:2: rename-column: renames column items\.name to title: the old version still queries it by its old name.*; add a column with the new name/,
  );
  assert.match(lines[2]!, /^deploy\/api\/expand\/002_drop\.sql:5: drop-column: drops column items\.price: .*contract migration/);
  assert.equal(lines[3], 'deploy/api/expand/002_drop.sql:4: drop-index: allowed: replaced by items_sku in release 12');
  assert.equal(lines.length, 4);
  assert.match(r.stderr, /4 files: 2 errors, 1 warning, 1 allowed; .*contract migration.*cutover:allow/);
});

test('a clean expand exits 0, warnings included, and --service picks one service', async () => {
  const r = await cutover(['migrations', 'lint', '-c', 'cutover.yaml', '--service', 'web'], path.join(dir, 'deploy'));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(
    r.stdout,
    'web/expand/002_index.sql:2: create-index-without-concurrently: builds index orders_total on orders: building it blocks every write to the existing table until the build ends, so the live version stalls; use CREATE INDEX CONCURRENTLY (outside a transaction block)\n2 files: 0 errors, 1 warning, 0 allowed\n',
  );
  assert.equal(r.stderr, '');
});

test("--json gives every service's files, findings and allowed statements", async () => {
  const r = await cutover(['migrations', 'lint', '-c', 'deploy/cutover.yaml', '--json'], dir);
  assert.equal(r.code, 2);
  const out = JSON.parse(r.stdout) as {
    ok: boolean;
    services: Record<string, { files: string[]; findings: { rule: string; line: number }[]; allowed: { reason: string }[] }>;
  };
  assert.equal(out.ok, false);
  assert.deepEqual(out.services.web!.files, ['deploy/web/expand/001_orders.sql', 'deploy/web/expand/002_index.sql']);
  assert.deepEqual(
    out.services.api!.findings.map((f) => `${f.line}:${f.rule}`),
    ['2:rename-column', '5:drop-column'],
  );
  assert.deepEqual(
    out.services.api!.allowed.map((a) => a.reason),
    ['replaced by items_sku in release 12'],
  );
});

test('usage mistakes exit 2 and say what to do', async () => {
  const noService = await cutover(['migrations', 'lint', '-c', 'deploy/cutover.yaml', '--service', 'shop'], dir);
  assert.equal(noService.code, 2);
  assert.match(noService.stderr, /has no service "shop" \(services: web, api\)/);
  const missing = await cutover(['migrations', 'lint', '-c', 'deploy/nope.yaml'], dir);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /CUTOVER_E_CONFIG_NOT_FOUND/);
  const contract = await cutover(['migrations', 'contract'], dir);
  assert.equal(contract.code, 2, 'contract needs the service it is for');
  assert.match(contract.stderr, /cutover migrations contract <service>/);
  const nothing = await cutover(['migrations', 'lint', '-c', 'deploy/none.yaml'], dir);
  assert.equal(nothing.code, 0);
  assert.match(nothing.stdout, /no service has migrations\.lint/);
});
