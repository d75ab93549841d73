import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keepSecretEnv } from '../secrets.ts';
import { runHook } from './run.ts';

test('a command hook gets no daemon secret, and what it prints is cut of their values', async () => {
  keepSecretEnv('TEST_HOOK_SIGNING_KEY');
  process.env.TEST_HOOK_SIGNING_KEY = 'signing-key-0123456789';
  process.env.CUTOVER_TOKEN = 'cut_daemon_token_0123456789';
  try {
    const out = await runHook(
      {
        kind: 'command',
        run: 'echo "token=${CUTOVER_TOKEN:-none} key=${TEST_HOOK_SIGNING_KEY:-none}"; echo "leak cut_daemon_token_0123456789"',
        timeout: 5000,
      },
      {
        point: 'afterSwitch',
        service: 'web',
        release: { id: 'rel_1', version: 'v2', slot: 'green', fromSlot: 'blue', phase: 'observing' },
        reason: 'test',
        cwd: process.cwd(),
      },
    );
    assert.equal(out.ok, true, out.summary);
    assert.deepEqual(out.output, ['token=none key=none', 'leak [redacted]']);
  } finally {
    delete process.env.TEST_HOOK_SIGNING_KEY;
    delete process.env.CUTOVER_TOKEN;
  }
});
