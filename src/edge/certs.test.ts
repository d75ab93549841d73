import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makeCa, makeCert } from '../../test/tls.ts';
import { createLogger } from '../log.ts';
import { CertStore } from './certs.ts';

const quiet = createLogger({ level: 'error' });

describe('certificate files written later by ACME elsewhere', () => {
  it('a pair not there yet fails nothing and says it waits; once written and reloaded it is served', () => {
    const ca = makeCa();
    const dir = mkdtempSync(join(tmpdir(), 'cutover-certs-'));
    const store = new CertStore(quiet);
    try {
      const f = { cert: join(dir, 'app.test.pem'), key: join(dir, 'app.test.key') };
      store.addFiles(['app.test'], f.cert, f.key, 'waiting for the ACME certificate of app.test');
      assert.equal(store.contextFor('app.test'), null, 'no certificate yet: the handshake gets none');
      assert.equal(store.info()[0]?.error, 'waiting for the ACME certificate of app.test');
      const issued = makeCert(ca, ['app.test'], 'app');
      copyFileSync(issued.key, f.key);
      copyFileSync(issued.cert, f.cert);
      store.reload();
      assert.notEqual(store.contextFor('app.test'), null);
      assert.equal(store.info()[0]?.error, null);
      assert.match(store.info()[0]?.subject ?? '', /app/);
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
      rmSync(ca.dir, { recursive: true, force: true });
    }
  });
});

describe('a service that leaves a shared listener', () => {
  it('takes its certificate and file watches with it, and joining again adds it once', () => {
    const ca = makeCa();
    const store = new CertStore(quiet);
    try {
      const app = makeCert(ca, ['app.test'], 'app');
      const api = makeCert(ca, ['api.test'], 'api');
      store.addFiles(['app.test'], app.cert, app.key);
      const removeApi = store.addFiles(['api.test'], api.cert, api.key);
      const appContext = store.contextFor('app.test');
      assert.notEqual(store.contextFor('api.test'), appContext, 'api.test gets its own certificate while api is here');
      assert.equal(store.watchedFiles().length, 4);

      removeApi();
      assert.equal(store.contextFor('api.test'), appContext, 'api.test now gets what any unknown name gets, not api’s certificate');
      assert.deepEqual(
        store.info().map((c) => c.hosts),
        [['app.test']],
      );
      assert.deepEqual(store.watchedFiles().sort(), [app.cert, app.key].sort(), 'api’s files are no longer watched');
      removeApi();
      assert.equal(store.info().length, 1, 'removing twice changes nothing');

      store.addFiles(['api.test'], api.cert, api.key);
      assert.deepEqual(
        store.info().map((c) => c.hosts),
        [['app.test'], ['api.test']],
        'joined again: one entry, not a second beside a stale one',
      );
      assert.notEqual(store.contextFor('api.test'), appContext);
      assert.match(store.info()[1]?.subject ?? '', /api/);
    } finally {
      store.close();
      rmSync(ca.dir, { recursive: true, force: true });
    }
  });

  it('leaves a file another service’s pair also uses watched, and removes what ACME issued in memory', () => {
    const ca = makeCa();
    const store = new CertStore(quiet);
    try {
      const shared = makeCert(ca, ['app.test', 'api.test'], 'both');
      const removeApp = store.addFiles(['app.test'], shared.cert, shared.key);
      store.addFiles(['api.test'], shared.cert, shared.key);
      removeApp();
      assert.deepEqual(store.watchedFiles().sort(), [shared.cert, shared.key].sort(), 'still watched for api');
      assert.notEqual(store.contextFor('api.test'), null);

      const issued = makeCert(ca, ['acme.test'], 'acme');
      store.setPem(['acme.test'], 'acme:acme.test', readFileSync(issued.cert, 'utf8'), readFileSync(issued.key, 'utf8'));
      assert.equal(store.has('acme:acme.test'), true);
      store.removeSource('acme:acme.test');
      assert.equal(store.has('acme:acme.test'), false);
      assert.deepEqual(
        store.info().map((c) => c.hosts),
        [['api.test']],
      );
    } finally {
      store.close();
      rmSync(ca.dir, { recursive: true, force: true });
    }
  });
});
