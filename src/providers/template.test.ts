import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProcessProvider } from '../config/types.ts';
import { launchSpec } from './template.ts';

const config: ProcessProvider = {
  kind: 'process',
  command: ['node', 'releases/{version}/app.js', '--tag={version}'],
  replicas: 2,
  cwd: '/srv/web/{version}',
  env: { BUILD: 'v{version}', PORT: 'ignored' },
  stopGrace: 10_000,
};

test('{version} is replaced in command, cwd and env, and the cutover variables win over the config', () => {
  const spec = launchSpec(config, { service: 'web', slot: 'green', version: '1.4.0', port: 41234, baseEnv: { HOME: '/home/x' } });
  assert.equal(spec.file, 'node');
  assert.deepEqual(spec.args, ['releases/1.4.0/app.js', '--tag=1.4.0']);
  assert.equal(spec.cwd, '/srv/web/1.4.0');
  assert.equal(spec.env.BUILD, 'v1.4.0');
  assert.equal(spec.env.HOME, '/home/x');
  assert.equal(spec.env.PORT, '41234');
  assert.equal(spec.env.CUTOVER_SLOT, 'green');
  assert.equal(spec.env.CUTOVER_VERSION, '1.4.0');
  assert.equal(spec.env.CUTOVER_SERVICE, 'web');
});

test("the daemon's API token is not passed on to the applications it runs", () => {
  const spec = launchSpec(config, {
    service: 'web',
    slot: 'blue',
    version: '1',
    port: 1,
    baseEnv: { CUTOVER_TOKEN: 'secret', PATH: '/bin' },
  });
  assert.equal(spec.env.CUTOVER_TOKEN, undefined);
  assert.equal(spec.env.PATH, '/bin');
});

test('an empty command is refused with what to fix', () => {
  assert.throws(
    () => launchSpec({ ...config, command: [] }, { service: 'web', slot: 'blue', version: '1', port: 1, baseEnv: {} }),
    /provider\.command is empty/,
  );
});
