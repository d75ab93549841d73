// The TLS listener's certificates: one per host by SNI, files replaced on disk picked up by new
// handshakes while established connections go on, a broken pair keeping the old one, modern TLS only.
import assert from 'node:assert/strict';
import { copyFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { CertStore, TLS_DEFAULTS } from '../src/edge/certs.ts';
import { createLogger } from '../src/log.ts';
import { waitFor } from './helpers.ts';
import { makeCa, makeCert, type TestCa } from './tls.ts';

const log = createLogger({ level: 'error' });

function handshake(port: number, ca: string, servername: string, opts: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername, ...opts }, () => resolve(s));
    s.once('error', reject);
  });
}

async function peerSerial(port: number, ca: string, servername: string): Promise<string> {
  const s = await handshake(port, ca, servername);
  const serial = s.getPeerCertificate().serialNumber.toLowerCase();
  s.destroy();
  return serial;
}

function echo(s: tls.TLSSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    s.once('data', (d) => resolve(d.toString()));
    s.once('error', reject);
    s.write(text);
  });
}

describe('certificates by SNI, reloaded from disk', () => {
  let ca: TestCa;
  let store: CertStore;
  let server: tls.Server;
  let port: number;
  let a: { cert: string; key: string; serial: string };
  let b: { cert: string; key: string; serial: string };

  before(async () => {
    ca = makeCa();
    a = makeCert(ca, ['a.test', '*.a.test'], 'a');
    b = makeCert(ca, ['b.test'], 'b');
    store = new CertStore(log);
    store.addFiles(['a.test', '*.a.test'], a.cert, a.key);
    store.addFiles(['b.test'], b.cert, b.key);
    server = tls.createServer({ ...TLS_DEFAULTS, ...store.defaultOptions(), SNICallback: store.sniCallback }, (s: net.Socket) =>
      s.on('data', (d) => s.write(d)).on('error', () => {}),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });

  after(() => {
    store.close();
    server.close();
    rmSync(ca.dir, { recursive: true, force: true });
  });

  it('each host gets its own certificate, a wildcard covers its subdomains', async () => {
    assert.equal(await peerSerial(port, ca.pem, 'a.test'), a.serial);
    assert.equal(await peerSerial(port, ca.pem, 'eu.a.test'), a.serial);
    assert.equal(await peerSerial(port, ca.pem, 'b.test'), b.serial);
  });

  it('TLS 1.1 and weak ciphers are refused', async () => {
    await assert.rejects(handshake(port, ca.pem, 'a.test', { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }));
    await assert.rejects(handshake(port, ca.pem, 'a.test', { maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA' }));
    const s = await handshake(port, ca.pem, 'a.test', { maxVersion: 'TLSv1.2' });
    assert.equal(s.getProtocol(), 'TLSv1.2');
    s.destroy();
  });

  it('a certificate replaced on disk reaches new handshakes while an open connection goes on', async () => {
    const open = await handshake(port, ca.pem, 'b.test');
    assert.equal(await echo(open, 'before'), 'before');
    // Written aside and renamed over, as certbot and cert-manager do.
    const next = makeCert(ca, ['b.test'], 'b-next');
    copyFileSync(next.key, `${b.key}.tmp`);
    copyFileSync(next.cert, `${b.cert}.tmp`);
    renameSync(`${b.key}.tmp`, b.key);
    renameSync(`${b.cert}.tmp`, b.cert);
    await waitFor('the new certificate on new handshakes', async () => (await peerSerial(port, ca.pem, 'b.test')) === next.serial, 10000);
    assert.equal(await echo(open, 'after'), 'after');
    assert.equal(open.getPeerCertificate().serialNumber.toLowerCase(), b.serial);
    open.destroy();
    b = next;
  });

  it('a broken file keeps the previous certificate and says why', async () => {
    writeFileSync(join(ca.dir, 'a.pem'), 'not a certificate');
    await waitFor(
      'the error reported',
      () =>
        store
          .info()
          .find((i) => i.source === a.cert)
          ?.error?.includes('cannot load'),
      10000,
    );
    assert.equal(await peerSerial(port, ca.pem, 'a.test'), a.serial);
  });
});
