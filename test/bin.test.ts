// The installed `cutover` command (package.json bin) runs the CLI, under the project's own Node.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers.ts';

test('the cutover bin validates the design example and exits 0, and a bad config exits 2', () => {
  const bin = join(ROOT, 'bin/cutover.js');
  const ok = spawnSync(process.execPath, [bin, 'validate', '-c', join(ROOT, 'examples/design.cutover.yaml')], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /ok \(1 service: web\)/);
  const bad = spawnSync(process.execPath, [bin, 'validate', '-c', join(ROOT, 'package.json')], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  const none = spawnSync(process.execPath, [bin], { encoding: 'utf8' });
  assert.equal(none.status, 2, 'no command is a usage error');
  assert.match(none.stdout, /usage: cutover <command>/);
});
