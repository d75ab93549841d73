import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatEdge } from './status-edge.ts';

test('status shows the certificates a service serves and a failed ACME attempt with its reason and next try', () => {
  const lines = formatEdge({
    hosts: ['app.test', 'www.app.test'],
    pathPrefix: '/',
    tls: true,
    certificates: [
      {
        hosts: ['app.test'],
        source: 'acme:app.test',
        subject: 'CN=app.test',
        notAfter: '2026-12-01T12:00:00.000Z',
        loadedAt: '',
        error: null,
      },
      {
        hosts: ['www.app.test'],
        source: 'certs/www.pem',
        subject: '',
        notAfter: '',
        loadedAt: '',
        error: 'cannot load certs/www.pem: ENOENT',
      },
    ],
    acme: [
      {
        host: 'app.test',
        state: 'error',
        notAfter: '2026-12-01T12:00:00.000Z',
        error: 'obtaining a certificate for app.test from https://acme.test/dir failed: the ACME directory did not answer',
        failures: 2,
        nextAttempt: '2026-12-01T11:02:00.000Z',
      },
    ],
  });
  assert.match(lines[0] ?? '', /^ {2}edge: app\.test, www\.app\.test over TLS$/);
  assert.match(lines[1] ?? '', /certificate app\.test {2}acme:app\.test {2}valid until /);
  assert.match(lines[2] ?? '', /certificate www\.app\.test {2}certs\/www\.pem {2}NOT LOADED: cannot load certs\/www\.pem: ENOENT/);
  assert.match(lines[3] ?? '', /acme app\.test {2}FAILED \(2x\): obtaining a certificate .* did not answer; next attempt /);
});
