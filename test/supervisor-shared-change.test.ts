// A shared TLS listener whose services change on SIGHUP: a service added to the config joins the
// router processes already serving the listener, and one taken out of the config leaves them with
// its certificate (its host then gets neither that certificate nor an answer other than 421), while the service that stays serves under keep-alive load without a failure
// and the same router processes serve throughout.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import { test } from 'node:test';
import { parse, stringify } from 'yaml';
import { startUpstream, waitFor } from './helpers.ts';
import { cleanup, startUp } from './lifecycle-helpers.ts';
import { processes, writeStaticServices } from './supervisor-helpers.ts';
import { httpsOnce, tlsLoad } from './tls-load.ts';
import { makeCa, makeCert } from './tls.ts';

const ATTACHED = '"msg":"attached to the supervisor"';
const count = (text: string, what: string): number => text.split(what).length - 1;

/** The fingerprint of the certificate the listener presents for `host`, verified or not. */
function presented(port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port, servername: host, rejectUnauthorized: false }, () => {
      resolve(sock.getPeerCertificate().fingerprint256);
      sock.destroy();
    });
    sock.on('error', reject);
  });
}

test('a SIGHUP that adds a service to a shared TLS listener, then one that takes it out: it joins and leaves the same router processes, the other service fails nothing', async () => {
  const ups = await Promise.all(['app-blue', 'app-green', 'www-blue', 'www-green'].map((n) => startUpstream(n)));
  const [appBlue, appGreen, wwwBlue, wwwGreen] = ups as [(typeof ups)[0], (typeof ups)[0], (typeof ups)[0], (typeof ups)[0]];
  const ca = makeCa();
  const app = makeCert(ca, ['app.test'], 'app');
  const www = makeCert(ca, ['www.test'], 'www');
  const s = await writeStaticServices({
    app: { blue: appBlue.address, green: appGreen.address, hosts: ['app.test'], tls: { certificate: app.cert, key: app.key } },
  });
  const alone = readFileSync(s.file, 'utf8');
  const config = parse(alone);
  config.services.www = {
    ...config.services.app,
    hosts: ['www.test'],
    tls: { certificate: www.cert, key: www.key },
    provider: { kind: 'static', blue: [wwwBlue.address], green: [wwwGreen.address] },
  };
  const both = stringify(config);
  const d = await startUp(s);
  const agent = new https.Agent({ keepAlive: false });
  const ask = (host: string) => httpsOnce(agent, s.port, ca.pem, host).catch((e: Error) => ({ status: 0, body: e.message }));
  // A client that takes any certificate, to see what a host is answered once its service is gone.
  const unverified = new https.Agent({ keepAlive: false, rejectUnauthorized: false });
  const wwwCert = new X509Certificate(readFileSync(www.cert)).fingerprint256;
  const restart = async (n: number): Promise<void> => {
    d.child.kill('SIGHUP');
    await waitFor(`restart ${n} to attach`, () => count(d.output(), ATTACHED) === n + 1, 30_000);
    await waitFor('the API again', async () => (await d.api('GET', '/api/v1/services/app')).status === 200, 30_000);
  };
  try {
    await waitFor('app over TLS', async () => (await ask('app.test')).body === 'app-blue' || undefined);
    assert.notEqual((await ask('www.test')).body, 'www-blue', 'no service for www.test yet');
    const before = await processes(d, 'app');
    const load = tlsLoad(s.port, ca.pem, 'app.test', 2, 2);
    try {
      writeFileSync(s.file, both);
      await restart(1);
      await waitFor('www to answer on the shared listener', async () => (await ask('www.test')).body === 'www-blue' || undefined);
      assert.deepEqual((await processes(d, 'www')).routers, before.routers, 'www joined the processes already serving the listener');
      assert.deepEqual((await processes(d, 'app')).routers, before.routers, 'app: the same processes');

      writeFileSync(s.file, alone);
      await restart(2);
      // Its certificate left with it: a handshake for www.test no longer gets it (a verifying client
      // refuses what it gets instead), and a request that goes on anyway gets the 421 of an unknown host.
      await waitFor(
        'www and its certificate to leave the listener',
        async () => (await presented(s.port, 'www.test')) !== wwwCert || undefined,
        15_000,
      );
      assert.match((await ask('www.test')).body, /altnames|certificate/i, 'a verifying client refuses the handshake for www.test');
      assert.equal((await httpsOnce(unverified, s.port, ca.pem, 'www.test')).status, 421);
      assert.deepEqual((await processes(d, 'app')).routers, before.routers, 'app: the same processes after www left');
      assert.equal((await d.api('GET', '/api/v1/services/app')).json.supervisor.routers.generation, before.generation);

      const r = await load.stop();
      assert.deepEqual(r.failures, [], `app's requests across both restarts (${r.ok} ok)`);
      assert.ok(r.ok > 0);
      assert.deepEqual([...r.bodies], ['app-blue']);
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  } finally {
    await d.stop();
    cleanup(s);
    await Promise.all(ups.map((u) => u.close()));
  }
});
