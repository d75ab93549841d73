// ACME against Debian's pebble on loopback: a fresh start obtains a certificate for each host (HTTP-01
// on the httpRedirect listener, TLS-ALPN-01 on the TLS listener), renewal ahead of expiry replaces one
// while an open connection goes on, and pebble going away leaves a clear error and the served certificate.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import acme from 'acme-client';
import { AcmeChallenges } from '../src/edge/acme.ts';
import { EdgeListeners } from '../src/edge/host.ts';
import { startEdge } from './edge-helpers.ts';
import { freePort, startUpstream, type Upstream, waitFor } from './helpers.ts';
import { type Pebble, startPebble } from './pebble.ts';
import { makeCa, type TestCa } from './tls.ts';

function peer(port: number, host: string, ca: string, verify = true): Promise<{ serial: string; socket: tls.TLSSocket }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: '127.0.0.1', port, servername: host, ca, ALPNProtocols: ['http/1.1'], rejectUnauthorized: verify },
      () => resolve({ serial: socket.getPeerCertificate().serialNumber, socket }),
    );
    socket.once('error', reject);
  });
}

async function serial(port: number, host: string, ca: string, verify = true): Promise<string> {
  const p = await peer(port, host, ca, verify);
  p.socket.destroy();
  return p.serial;
}

/** A request on an already open TLS connection, so a renewal is seen not to drop it. */
function requestOn(socket: tls.TLSSocket, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString('latin1');
      if (/\r\n\r\n[\s\S]+$/.test(got)) {
        socket.off('data', onData);
        resolve(got.split(' ')[1] ?? '');
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('the connection was closed')));
    socket.write(`GET / HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
  });
}

function plainGet(port: number, host: string, path: string): Promise<{ status: number; location?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, location: res.headers.location });
      })
      .on('error', reject);
  });
}

describe('ACME against pebble', () => {
  let ca: TestCa;
  let up: Upstream;
  let state: string;

  before(async () => {
    ca = makeCa();
    up = await startUpstream('blue');
    state = mkdtempSync(join(tmpdir(), 'cutover-acme-'));
    // Pebble's own HTTPS is signed by the test CA; tests trust it the way NODE_EXTRA_CA_CERTS does for the daemon.
    acme.axios.defaults.httpsAgent = new https.Agent({ ca: ca.pem });
  });

  after(async () => {
    await up.close();
    rmSync(ca.dir, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  });

  describe('with an httpRedirect listener (HTTP-01)', () => {
    let pebble: Pebble;
    let edge: Awaited<ReturnType<typeof startEdge>>;
    let port: number;
    let redirect: number;
    let root: string;

    before(async () => {
      port = await freePort();
      redirect = await freePort();
      // Certificates live 12 s here, so renewal (a third of the lifetime before expiry) comes within seconds.
      pebble = await startPebble(ca, { httpPort: redirect, tlsPort: port, validitySeconds: 12 });
      const acmeTls = { acme: { email: 'ops@example.test', directory: pebble.directory, renewBefore: 30 * 24 * 3600_000 } };
      const common = { stripPrefix: true, tls: acmeTls, httpRedirect: `127.0.0.1:${redirect}`, acmeStorage: state };
      edge = await startEdge(
        [
          { name: 'app', edge: { ...common, hosts: ['app.test'] }, blue: [up.address], acme: { attemptTimeout: 8000 } },
          { name: 'api', edge: { ...common, hosts: ['api.test'] }, blue: [up.address], acme: { attemptTimeout: 8000 } },
        ],
        `127.0.0.1:${port}`,
        new EdgeListeners(new AcmeChallenges()),
      );
      root = await pebble.root();
    });

    after(async () => {
      await edge?.close();
      await pebble?.stop();
    });

    it('a fresh start obtains a certificate for each host, kept in stateDir readable only by its owner', async () => {
      for (const name of ['app', 'api']) {
        await waitFor(`${name} certificate`, () => edge.hosts.get(name)?.acmeStatus()[0]?.state === 'valid', 20_000);
      }
      for (const host of ['app.test', 'api.test']) {
        const p = await peer(port, host, root);
        assert.equal(p.socket.authorized, true);
        assert.match(p.socket.getPeerCertificate().subjectaltname ?? '', new RegExp(`DNS:${host.replace('.', '\\.')}`));
        p.socket.destroy();
      }
      const dir = join(state, (await import('node:fs')).readdirSync(state)[0] as string);
      for (const f of ['account.key', 'app.test.key', 'app.test.pem']) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
    });

    it('plain HTTP on the redirect listener goes to https on the TLS port, unknown hosts get 421', async () => {
      const r = await plainGet(redirect, 'app.test', '/a?b=1');
      assert.equal(r.status, 301);
      assert.equal(r.location, `https://app.test:${port}/a?b=1`);
      assert.equal((await plainGet(redirect, 'evil.test', '/')).status, 421);
    });

    it('renewal ahead of expiry replaces the certificate while an open connection goes on', async () => {
      const open = await peer(port, 'app.test', root);
      // The open connection keeps asking while the renewal happens: not one of its requests may fail.
      let asked = 0;
      await waitFor(
        'a renewed certificate',
        async () => {
          assert.equal(await requestOn(open.socket, 'app.test'), '200');
          asked++;
          return (await serial(port, 'app.test', root)) !== open.serial;
        },
        25_000,
      );
      assert.equal(await requestOn(open.socket, 'app.test'), '200');
      assert.ok(asked > 0);
      open.socket.destroy();
    });

    it('with pebble gone a renewal fails with a clear error in status, and the certificate is still served', async () => {
      await pebble.stop();
      const served = await serial(port, 'api.test', root, false);
      const s = await waitFor(
        'the error in status',
        () =>
          edge.hosts
            .get('api')
            ?.acmeStatus()
            .find((x) => x.state === 'error'),
        20_000,
      ).catch((err) => {
        throw new Error(`${err.message}: ${JSON.stringify(edge.hosts.get('api')?.acmeStatus())}`);
      });
      assert.match(
        s.error ?? '',
        /obtaining a certificate for api\.test from https:\/\/127\.0\.0\.1:\d+\/dir failed: .*(did not answer|no certificate within).*retrying in \d+s/,
      );
      assert.ok(s.nextAttempt !== null);
      // It may have expired meanwhile (these live 12 s): what counts is that it is still the one served.
      assert.equal(await serial(port, 'api.test', root, false), served);
    });
  });

  describe('without an httpRedirect listener (TLS-ALPN-01)', () => {
    it('the TLS listener answers the acme-tls/1 challenge and then serves the certificate', async () => {
      const port = await freePort();
      const pebble = await startPebble(ca, { httpPort: await freePort(), tlsPort: port });
      const edge = await startEdge(
        [
          {
            name: 'alpn',
            edge: {
              hosts: ['alpn.test'],
              stripPrefix: true,
              tls: { acme: { email: 'ops@example.test', directory: pebble.directory, renewBefore: 3600_000 } },
              acmeStorage: state,
            },
            blue: [up.address],
          },
        ],
        `127.0.0.1:${port}`,
        new EdgeListeners(new AcmeChallenges()),
      );
      try {
        await waitFor('the certificate', () => edge.hosts.get('alpn')?.acmeStatus()[0]?.state === 'valid', 20_000);
        const root = await pebble.root();
        const p = await peer(port, 'alpn.test', root);
        assert.equal(p.socket.authorized, true);
        assert.equal(await requestOn(p.socket, 'alpn.test'), '200');
        p.socket.destroy();
      } finally {
        await edge.close();
        await pebble.stop();
      }
    });
  });
});
