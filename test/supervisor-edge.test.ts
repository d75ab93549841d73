// A TLS service (certificate files, a host name) runs its edge in the supervisor's router processes:
// a controller SIGKILLed and started again, and a SIGHUP restart, lose no request over HTTP/1.1 or
// HTTP/2 keep-alive connections, the same certificate is served throughout, and a switch afterwards works.
import assert from 'node:assert/strict';
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { startUpstream, waitFor } from './helpers.ts';
import { cleanup, startUp } from './lifecycle-helpers.ts';
import { processes, writeStatic } from './supervisor-helpers.ts';
import { makeCa, makeCert } from './tls.ts';
import { httpsOnce, servedFingerprint, tlsLoad } from './tls-load.ts';

const HOST = 'app.test';
const ATTACHED = '"msg":"attached to the supervisor"';
const count = (text: string, what: string): number => text.split(what).length - 1;

test('a TLS service under HTTP/1.1 and HTTP/2 keep-alive load: controller SIGKILL + up, then SIGHUP: 0 failed, same certificate and routers, a switch after works', async () => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  const ca = makeCa();
  const cert = makeCert(ca, [HOST], 'app');
  const s = await writeStatic(blue.address, green.address, { hosts: [HOST], tls: { certificate: cert.cert, key: cert.key } });
  const fileFingerprint = new X509Certificate(readFileSync(cert.cert)).fingerprint256;
  let d = await startUp(s);
  try {
    await waitFor(
      'the edge to answer over TLS',
      async () => (await servedFingerprint(s.port, ca.pem, HOST)) === fileFingerprint || undefined,
    );
    const before = await processes(d);
    assert.ok(before.routers.length >= 1, 'the supervisor runs the TLS service in its router processes');
    const edge = (await d.api('GET', '/api/v1/services/web')).json.edge;
    assert.equal(edge?.tls, true, JSON.stringify(edge));
    assert.equal(edge.certificates.length, 1, 'the status shows the certificate file');

    const load = tlsLoad(s.port, ca.pem, HOST);
    try {
      await new Promise((r) => setTimeout(r, 300));
      await d.stop('SIGKILL');
      // No controller now: the supervisor's routers keep terminating TLS on their own.
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await servedFingerprint(s.port, ca.pem, HOST), fileFingerprint, 'the same certificate with no controller');
      d = await startUp(s);
      const after = await waitFor('the new controller to attach', async () => {
        const p = await processes(d);
        return p.controllers === 1 ? p : undefined;
      });
      assert.equal(after.supervisor, before.supervisor, 'the same supervisor');
      assert.deepEqual(after.routers, before.routers, 'the same router processes: the edge was not started again');
      assert.equal(after.generation, before.generation, 'no generation lost or repeated by the attach');

      d.child.kill('SIGHUP');
      await waitFor('the SIGHUP restart to attach', () => count(d.output(), ATTACHED) === 2, 30_000);
      await waitFor('the API again', async () => (await d.api('GET', '/api/v1/services/web')).status === 200, 30_000);
      assert.deepEqual((await processes(d)).routers, before.routers, 'the same router processes across SIGHUP');

      const sw = await d.api('POST', '/api/v1/services/web/switch', { slot: 'green' });
      assert.equal(sw.status, 200, JSON.stringify(sw.json));
      assert.equal(sw.json.generation, before.generation + 1);
      const agent = new https.Agent({ keepAlive: false });
      await waitFor('green to answer over TLS', async () => (await httpsOnce(agent, s.port, ca.pem, HOST)).body === 'green' || undefined);
      assert.equal(await servedFingerprint(s.port, ca.pem, HOST), fileFingerprint, 'the same certificate after the restarts');

      const r = await load.stop();
      assert.deepEqual(r.failures, [], `failed requests across the kill, the attach and SIGHUP (${r.ok} ok)`);
      assert.ok(r.ok > 0);
      assert.ok(r.bodies.has('green'), 'the keep-alive clients moved to green with the switch');
      process.stdout.write(`# TLS h1+h2 load across SIGKILL + up and SIGHUP: ${r.ok} ok, 0 failed, longest gap ${r.maxGapMs} ms\n`);
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  } finally {
    await d.stop();
    cleanup(s);
    await blue.close();
    await green.close();
  }
});
