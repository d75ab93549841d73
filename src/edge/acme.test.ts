import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { makeCa, makeCert } from '../../test/tls.ts';
import { AcmeChallenges } from './acme.ts';
import { challengeKey } from './challenge-sink.ts';

describe('challenges handed to a router process by key', () => {
  it('an HTTP-01 token and a TLS-ALPN-01 certificate are answered once set and gone once their key is cleared', () => {
    const ca = makeCa();
    try {
      const pair = makeCert(ca, ['app.test'], 'alpn');
      const c = new AcmeChallenges();
      const token = { type: 'http-01', token: 'tok', keyAuthorization: 'tok.thumb' } as const;
      const alpn = {
        type: 'tls-alpn-01',
        host: 'app.test',
        cert: readFileSync(pair.cert, 'utf8'),
        key: readFileSync(pair.key, 'utf8'),
      } as const;
      c.apply(`app ${challengeKey(token)}`, token);
      c.apply(`app ${challengeKey(alpn)}`, alpn);
      assert.equal(c.http.get('tok'), 'tok.thumb');
      assert.ok(c.alpn.has('app.test'), 'the challenge certificate is ready for acme-tls/1 handshakes');
      // A newer challenge under the same key replaces the old one.
      c.apply(`app ${challengeKey(token)}`, { ...token, keyAuthorization: 'tok.other' });
      assert.equal(c.http.get('tok'), 'tok.other');
      c.apply(`app ${challengeKey(token)}`, null);
      c.apply(`app ${challengeKey(alpn)}`, null);
      assert.equal(c.http.size, 0);
      assert.equal(c.alpn.size, 0, 'no challenge left: the listener stops peeking at ClientHellos');
    } finally {
      rmSync(ca.dir, { recursive: true, force: true });
    }
  });
});
