// `cutover demo`, the guided tour, run as a user would: it must end with zero failed user requests.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { CLI } from './helpers.ts';

test('cutover demo deploys v1 and v2, rolls back, refuses a broken v3, and no user request fails', { timeout: 180_000 }, async () => {
  const child = spawn(process.execPath, [CLI, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 0, out);
  const last = /(\d+) user requests served, (\d+) failed/.exec(out);
  assert.ok(last, out);
  assert.ok(Number(last[1]) > 100, 'the steady load really ran');
  assert.equal(last[2], '0');
  assert.match(out, /promoted\s+version v2 is live on green/);
  assert.match(out, /failed\s+replica \d of demo\/green \(version v3-broken\) exited/);
  assert.doesNotMatch(out, /v3-broken: \d+/, 'no user was ever answered by the broken version');
});
