// Two services sharing one TLS listener by host, with the httpRedirect listener, run in the
// supervisor's router processes: a controller SIGKILLed and started again, and a SIGHUP restart,
// lose no request over HTTP/1.1 or HTTP/2 keep-alive connections; the same processes serve both
// hosts throughout, each with its own certificate and upstream; the redirect listener answers
// throughout; and a switch of one service afterwards leaves the other untouched.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { test } from 'node:test';
import { freePort, startUpstream, waitFor } from './helpers.ts';
import { cleanup, startUp } from './lifecycle-helpers.ts';
import { processes, redirectLoad, writeStaticServices } from './supervisor-helpers.ts';
import { httpsOnce, servedFingerprint, tlsLoadHosts } from './tls-load.ts';
import { makeCa, makeCert } from './tls.ts';

const ATTACHED = '"msg":"attached to the supervisor"';
const count = (text: string, what: string): number => text.split(what).length - 1;

test('two services on one TLS listener with httpRedirect: controller SIGKILL + up and SIGHUP lose no request, keep the router processes, each host its certificate and upstream, the redirect answering; a switch of one leaves the other untouched', async () => {
  const ups = await Promise.all(['app-blue', 'app-green', 'api-blue', 'api-green'].map((n) => startUpstream(n)));
  const [appBlue, appGreen, apiBlue, apiGreen] = ups as [(typeof ups)[0], (typeof ups)[0], (typeof ups)[0], (typeof ups)[0]];
  const ca = makeCa();
  const certs = { 'app.test': makeCert(ca, ['app.test'], 'app'), 'api.test': makeCert(ca, ['api.test'], 'api') };
  const redirectPort = await freePort();
  const s = await writeStaticServices(
    {
      app: {
        blue: appBlue.address,
        green: appGreen.address,
        hosts: ['app.test'],
        tls: { certificate: certs['app.test'].cert, key: certs['app.test'].key },
      },
      api: {
        blue: apiBlue.address,
        green: apiGreen.address,
        hosts: ['api.test'],
        tls: { certificate: certs['api.test'].cert, key: certs['api.test'].key },
      },
    },
    { httpRedirect: `127.0.0.1:${redirectPort}` },
  );
  const fingerprint = (host: keyof typeof certs): string => new X509Certificate(readFileSync(certs[host].cert)).fingerprint256;
  const sameCertificates = async (): Promise<void> => {
    for (const host of ['app.test', 'api.test'] as const)
      assert.equal(await servedFingerprint(s.port, ca.pem, host), fingerprint(host), `${host} shows its own certificate`);
  };
  let d = await startUp(s);
  try {
    await waitFor('both hosts to answer over TLS', async () => {
      for (const host of ['app.test', 'api.test'] as const)
        if ((await servedFingerprint(s.port, ca.pem, host)) !== fingerprint(host)) return undefined;
      return true;
    });
    const before = { app: await processes(d, 'app'), api: await processes(d, 'api') };
    assert.ok(before.app.routers.length >= 1, 'the supervisor runs the shared listener in its router processes');
    assert.deepEqual(before.api.routers, before.app.routers, 'the same router processes serve both services');
    for (const [name, host] of [
      ['app', 'app.test'],
      ['api', 'api.test'],
    ] as const) {
      const edge = (await d.api('GET', `/api/v1/services/${name}`)).json.edge;
      assert.deepEqual(edge?.hosts, [host], JSON.stringify(edge));
      assert.equal(edge.certificates.length, 1, `${name}'s status shows its certificate file`);
    }

    const load = tlsLoadHosts(s.port, ca.pem, ['app.test', 'api.test']);
    const redirects = redirectLoad(redirectPort, 'app.test', s.port);
    try {
      await new Promise((r) => setTimeout(r, 300));
      await d.stop('SIGKILL');
      // No controller now: the supervisor's routers serve both hosts and the redirect on their own.
      await new Promise((r) => setTimeout(r, 500));
      await sameCertificates();
      d = await startUp(s);
      const after = await waitFor('the new controller to attach', async () => {
        const p = await processes(d, 'app');
        return p.controllers === 1 ? p : undefined;
      });
      assert.equal(after.supervisor, before.app.supervisor, 'the same supervisor');
      assert.deepEqual(after.routers, before.app.routers, 'the same router processes: the listener was not started again');
      assert.equal(after.generation, before.app.generation, 'no generation lost or repeated by the attach');
      assert.deepEqual((await processes(d, 'api')).routers, before.app.routers, 'api adopted in the same processes');

      d.child.kill('SIGHUP');
      await waitFor('the SIGHUP restart to attach', () => count(d.output(), ATTACHED) === 2, 30_000);
      await waitFor('the API again', async () => (await d.api('GET', '/api/v1/services/api')).status === 200, 30_000);
      for (const name of ['app', 'api'])
        assert.deepEqual((await processes(d, name)).routers, before.app.routers, `${name}: the same processes across SIGHUP`);
      await sameCertificates();

      const apiGeneration = (await processes(d, 'api')).generation;
      const sw = await d.api('POST', '/api/v1/services/app/switch', { slot: 'green' });
      assert.equal(sw.status, 200, JSON.stringify(sw.json));
      assert.equal(sw.json.generation, before.app.generation + 1);
      const agent = new https.Agent({ keepAlive: false });
      await waitFor(
        'app to answer from green',
        async () => (await httpsOnce(agent, s.port, ca.pem, 'app.test')).body === 'app-green' || undefined,
      );
      await new Promise((r) => setTimeout(r, 300));

      const r = await load.stop();
      const rd = await redirects.stop();
      assert.deepEqual(r.failures, [], `failed requests across the kill, the attach, SIGHUP and the switch (${r.ok} ok)`);
      assert.deepEqual(
        [...(r.bodies.get('app.test') ?? [])].sort(),
        ['app-blue', 'app-green'],
        'app.test: its own upstream, moved to green',
      );
      assert.deepEqual([...(r.bodies.get('api.test') ?? [])], ['api-blue'], 'api.test: its own upstream, untouched by the switch of app');
      assert.equal((await processes(d, 'api')).generation, apiGeneration, "the switch of app did not touch api's route table");
      assert.deepEqual(rd.failures, [], `the redirect listener across the restarts (${rd.ok} answered 301)`);
      assert.ok(rd.ok > 0);
      process.stdout.write(
        `# two services on one TLS listener across SIGKILL + up, SIGHUP and a switch: ${r.ok} ok, 0 failed, longest gap ${r.maxGapMs} ms; redirect ${rd.ok} x 301\n`,
      );
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await Promise.all([load.stop(), redirects.stop()]);
    }
  } finally {
    await d.stop();
    cleanup(s);
    await Promise.all(ups.map((u) => u.close()));
  }
});
