import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { resolveTarget } from './client.ts';

const dir = mkdtempSync(join(tmpdir(), 'cutover-client-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function configWith(listen: string): string {
  const sub = mkdtempSync(join(dir, 'c-'));
  mkdirSync(join(sub, 'state'));
  writeFileSync(join(sub, 'state', 'admin.token'), 'cut_local_admin_token\n');
  const file = join(sub, 'cutover.yaml');
  writeFileSync(file, `api: { listen: "${listen}" }\nstateDir: state\nservices: {}\n`);
  return file;
}

test('the local admin token is used for a loopback API only, never sent to one elsewhere', () => {
  for (const listen of ['127.0.0.1:9900', '[::1]:9900', 'localhost:9900', '0.0.0.0:9900']) {
    assert.equal(resolveTarget(configWith(listen), {}).token, 'cut_local_admin_token', listen);
  }
  const far = resolveTarget(configWith('10.1.2.3:9900'), {});
  assert.equal(far.token, undefined);
  assert.match(far.tokenFrom, /only to a loopback API/);
  const viaEnv = resolveTarget(configWith('127.0.0.1:9900'), { CUTOVER_API: 'http://cutover.example:9900' });
  assert.equal(viaEnv.token, undefined, 'CUTOVER_API elsewhere does not get the local token');
  assert.equal(resolveTarget(configWith('10.1.2.3:9900'), { CUTOVER_TOKEN: 'given' }).token, 'given', 'CUTOVER_TOKEN is always used');
});
