import assert from 'node:assert/strict';
import { test } from 'node:test';
import { childEnv, keepSecretEnv, keepSecretValue, REDACTED, redactSecrets, redactText, secretEnvNames } from './secrets.ts';

test('a child gets the daemon environment without CUTOVER_TOKEN and without the variables kept secret', () => {
  keepSecretEnv('TEST_HOOK_KEY');
  const env = childEnv({ PATH: '/bin', CUTOVER_TOKEN: 'tok-1234567890', TEST_HOOK_KEY: 'hook-1234567890', DATABASE_URL: 'postgres://x' });
  assert.deepEqual(env, { PATH: '/bin', DATABASE_URL: 'postgres://x' });
  assert.ok(secretEnvNames().includes('CUTOVER_TOKEN'));
});

test('output is cut of every secret value, the longest first, however deep; short values are left alone', () => {
  keepSecretEnv('TEST_OTHER_KEY');
  keepSecretValue('admin-token-abcdefgh');
  keepSecretValue('short');
  const env = { CUTOVER_TOKEN: 'cut_secret_value_1', TEST_OTHER_KEY: 'cut_secret_value_1_longer' };
  assert.equal(
    redactText('a=cut_secret_value_1_longer b=cut_secret_value_1 c=admin-token-abcdefgh d=short', [], env),
    `a=${REDACTED} b=${REDACTED} c=${REDACTED} d=short`,
  );
  assert.equal(redactText('preview preview-token-xyz', ['preview-token-xyz'], env), `preview ${REDACTED}`);
  assert.deepEqual(redactSecrets({ details: { output: ['x cut_secret_value_1'] }, n: 1 }, [], env), {
    details: { output: [`x ${REDACTED}`] },
    n: 1,
  });
});
