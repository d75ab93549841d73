import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
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
