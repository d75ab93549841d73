import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProcessProvider } from '../config/types.ts';
import { processEnvNames, provisionedSpec } from './spec.ts';

const config: ProcessProvider = {
  kind: 'process',
  command: ['node', 'app.js', '{version}'],
  replicas: 2,
  cwd: '/srv/app',
  env: { API_KEY: 'first-secret' },
  stopGrace: 10_000,
};

test('a slot is described by names and a hash: a changed value shows only as another hash', () => {
  const a = provisionedSpec(config);
  const b = provisionedSpec({ ...config, env: { API_KEY: 'second-secret' } });
  assert.deepEqual(a.command, ['node', 'app.js', '{version}']);
  assert.deepEqual(a.envNames, ['API_KEY', 'CUTOVER_SERVICE', 'CUTOVER_SLOT', 'CUTOVER_VERSION', 'PORT']);
  assert.deepEqual(b.envNames, a.envNames);
  assert.notEqual(a.configHash, b.configHash);
  assert.doesNotMatch(JSON.stringify([a, b]), /secret/);
});

test('the variable names of a running process are read from it, without their values', async () => {
  const names = await processEnvNames(process.pid);
  if (process.platform !== 'linux') return assert.equal(names, null);
  assert.ok(names !== null, 'read on Linux');
  assert.ok(names.includes('PATH'), String(names));
  assert.ok(names.every((n) => !n.includes('=')));
  assert.equal(await processEnvNames(2 ** 22 + 1), null, 'a process that is gone: null');
});
