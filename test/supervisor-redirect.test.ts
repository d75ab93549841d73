// The httpRedirect listener with TLS services on two listeners, all in the supervisor's router
// processes: every host is redirected to the https port of its own listener (an unknown host gets
// 421), keep-alive clients of the redirect listener and the preview listener of a service see no
// failure across a controller SIGKILL + up, and the same router processes serve afterwards.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { freePort, startUpstream, waitFor } from './helpers.ts';
import { cleanup, startUp } from './lifecycle-helpers.ts';
import { processes, redirectLoad, redirectOnce, writeStaticServices } from './supervisor-helpers.ts';
import { makeCa, makeCert } from './tls.ts';

const PREVIEW_IDLE = /^no release in preview/;

test('httpRedirect with TLS services on two listeners: each host goes to its own https port, and the redirect and preview listeners answer across a controller SIGKILL + up', async () => {
  const ups = await Promise.all(['app-blue', 'app-green', 'api-blue', 'api-green'].map((n) => startUpstream(n)));
  const [appBlue, appGreen, apiBlue, apiGreen] = ups as [(typeof ups)[0], (typeof ups)[0], (typeof ups)[0], (typeof ups)[0]];
  const ca = makeCa();
  const app = makeCert(ca, ['app.test'], 'app');
  const api = makeCert(ca, ['api.test'], 'api');
  const [apiPort, redirectPort, previewPort] = [await freePort(), await freePort(), await freePort()];
  const s = await writeStaticServices(
    {
      app: { blue: appBlue.address, green: appGreen.address, hosts: ['app.test'], tls: { certificate: app.cert, key: app.key } },
      api: {
        blue: apiBlue.address,
        green: apiGreen.address,
        listen: `127.0.0.1:${apiPort}`,
        hosts: ['api.test'],
        tls: { certificate: api.cert, key: api.key },
        preview: { listen: `127.0.0.1:${previewPort}` },
      },
    },
    { httpRedirect: `127.0.0.1:${redirectPort}` },
  );
  let d = await startUp(s);
  try {
    const agent = new http.Agent({ keepAlive: false });
    const where = async (host: string) => redirectOnce(agent, redirectPort, host, '/a?b=1');
    await waitFor('the redirect listener to know both listeners', async () => (await where('api.test')).status === 301 || undefined);
    // Both listeners' processes accept on the redirect socket: fresh connections land on either.
    for (let i = 0; i < 10; i++) {
      assert.deepEqual(await where('app.test'), { status: 301, location: `https://app.test:${s.port}/a?b=1` });
      assert.deepEqual(await where('api.test'), { status: 301, location: `https://api.test:${apiPort}/a?b=1` });
    }
    assert.equal((await where('nobody.test')).status, 421, 'a host no TLS service names is not redirected');
    const before = { app: (await processes(d, 'app')).routers, api: (await processes(d, 'api')).routers };
    assert.ok(before.app.length === 1 && before.api.length === 1);
    assert.notDeepEqual(before.app, before.api, 'each listen address has router processes of its own');

    // The preview listener is the service's router's too (handed by the supervisor); with no release it says so.
    const preview = async () => (await fetch(`http://127.0.0.1:${previewPort}/`, { headers: { host: 'api.test' } })).text();
    await waitFor('the preview listener', async () => PREVIEW_IDLE.test(await preview().catch((e) => String(e))) || undefined);

    const loads = [redirectLoad(redirectPort, 'app.test', s.port), redirectLoad(redirectPort, 'api.test', apiPort)];
    try {
      const previewAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      let previewOk = 0;
      const previewFailures: string[] = [];
      let stop = false;
      const previews = (async () => {
        for (let i = 0; !stop && i < 10_000; i++) {
          const body = await new Promise<string>((resolve) => {
            const req = http.get(
              { host: '127.0.0.1', port: previewPort, path: '/', headers: { host: 'api.test' }, agent: previewAgent },
              (res) => {
                let b = '';
                res.on('data', (c) => (b += c));
                res.on('end', () => resolve(b));
              },
            );
            req.on('error', (e) => resolve(e.message));
          });
          if (PREVIEW_IDLE.test(body)) previewOk++;
          else previewFailures.push(body);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      await new Promise((r) => setTimeout(r, 300));
      await d.stop('SIGKILL');
      await new Promise((r) => setTimeout(r, 500));
      d = await startUp(s);
      await waitFor('the new controller to attach', async () => (await processes(d, 'app')).controllers === 1 || undefined);
      await new Promise((r) => setTimeout(r, 300));
      stop = true;
      await previews;
      previewAgent.destroy();
      const [a, b] = await Promise.all(loads.map((l) => l.stop()));
      assert.deepEqual(a!.failures, [], `app.test redirects across the kill (${a!.ok} x 301)`);
      assert.deepEqual(b!.failures, [], `api.test redirects across the kill (${b!.ok} x 301)`);
      assert.deepEqual(previewFailures, [], `the preview listener across the kill (${previewOk} ok)`);
      assert.ok(a!.ok > 0 && b!.ok > 0 && previewOk > 0);
      assert.deepEqual((await processes(d, 'app')).routers, before.app, 'the same router processes for app');
      assert.deepEqual((await processes(d, 'api')).routers, before.api, 'the same router processes for api');
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await Promise.all(loads.map((l) => l.stop()));
    }
  } finally {
    await d.stop();
    cleanup(s);
    await Promise.all(ups.map((u) => u.close()));
  }
});
