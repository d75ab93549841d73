import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StoreEvent } from '../store/types.ts';
import { webhookBody, webhookEventOf } from './webhooks.ts';

function certificate(outcome: string): StoreEvent {
  return {
    seq: 9,
    time: '2026-12-01T12:00:00.000Z',
    service: 'app',
    releaseId: null,
    type: 'certificate',
    actor: 'controller',
    reason: `obtaining a certificate for app.test from https://acme.test/dir failed: the ACME directory did not answer; retrying in 60s`,
    data: { host: 'app.test', outcome },
  };
}

test('a failed ACME attempt is sent as certificate-failed, naming the host and the reason; one obtained or renewed is not sent', () => {
  assert.equal(webhookEventOf(certificate('failed')), 'certificate-failed');
  assert.equal(webhookEventOf(certificate('obtained')), null);
  assert.equal(webhookEventOf(certificate('renewed')), null);
  const body = webhookBody('certificate-failed', certificate('failed'), null);
  assert.match(
    body.text,
    /^:lock: \*app\*: an ACME certificate could not be obtained for app\.test \(controller\) - obtaining a certificate .* did not answer/,
  );
  assert.equal(body.release, null);
});
