// What a viewer may see of a status, without processes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ReleaseStatus, ServiceStatus } from '../controller/view.ts';
import { forRole } from './visibility.ts';

test('a viewer sees how to preview a release but not its token; a deployer sees the token', () => {
  const release = {
    id: 'r',
    preview: { header: 'x-cutover-preview', cookie: 'cutover-preview', listen: null, token: 'secret' },
  } as unknown as ReleaseStatus;
  const status = { service: 'web', release } as unknown as ServiceStatus;
  assert.equal(forRole(release, 'viewer').preview?.token, undefined);
  assert.equal(forRole(status, 'viewer').release?.preview?.token, undefined);
  assert.equal(forRole(status, 'viewer').release?.preview?.header, 'x-cutover-preview');
  assert.equal(forRole(release, 'deployer').preview?.token, 'secret');
  assert.ok(!JSON.stringify(forRole(status, 'viewer')).includes('secret'));
});
