// The edge of issue 12's example in the supervisor's router processes: two ACME services sharing one
// TLS listener by host, with the httpRedirect listener answering HTTP-01. Against Debian's pebble
// each host gets its certificate from its service's ACME client in the controller; a controller
// SIGKILL + up under TLS keep-alive load to both hosts fails no request and keeps the router processes
// and both certificates, and the new controller orders none.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { acmeFiles } from '../src/edge/acme.ts';
import { freePort, startUpstream, waitFor } from './helpers.ts';
import { cleanup, type Running, startUp } from './lifecycle-helpers.ts';
import { startPebble } from './pebble.ts';
import { processes, writeStaticServices } from './supervisor-helpers.ts';
import { servedFingerprint, tlsLoadHosts } from './tls-load.ts';
import { makeCa } from './tls.ts';

const HOSTS = { app: 'app.test', api: 'api.test' } as const;
const fingerprintOf = (file: string): string => new X509Certificate(readFileSync(file)).fingerprint256;

test('two ACME services on one TLS listener with httpRedirect: certificates by HTTP-01 from the supervisor’s routers; a controller SIGKILL + up fails no request and keeps routers and certificates', async () => {
  const ups = await Promise.all(['app-blue', 'app-green', 'api-blue', 'api-green'].map((n) => startUpstream(n)));
  const [appBlue, appGreen, apiBlue, apiGreen] = ups as [(typeof ups)[0], (typeof ups)[0], (typeof ups)[0], (typeof ups)[0]];
  const ca = makeCa();
  const port = await freePort();
  const redirect = await freePort();
  // Pebble validates HTTP-01 on the redirect listener's port (and TLS-ALPN-01, unused here, on the listener).
  const pebble = await startPebble(ca, { httpPort: redirect, tlsPort: port });
  const acme = { acme: { email: 'ops@example.test', directory: pebble.directory } };
  const s = await writeStaticServices(
    {
      app: { blue: appBlue.address, green: appGreen.address, listen: `127.0.0.1:${port}`, hosts: [HOSTS.app], tls: acme },
      api: { blue: apiBlue.address, green: apiGreen.address, listen: `127.0.0.1:${port}`, hosts: [HOSTS.api], tls: acme },
    },
    { httpRedirect: `127.0.0.1:${redirect}` },
  );
  const files = Object.values(HOSTS).map((h) => [h, acmeFiles(join(s.dir, 'state', 'acme'), pebble.directory, h).cert] as const);
  const up = (): Promise<Running> => startUp(s, undefined, { NODE_EXTRA_CA_CERTS: ca.cert });
  let d = await up();
  try {
    const root = await pebble.root();
    /** Each host's served certificate, once the routers serve the one its ACME client wrote. */
    const served = (): Promise<string[]> =>
      waitFor(
        'the routers to serve both ACME certificates',
        async () => {
          const fps: string[] = [];
          for (const [host, file] of files) {
            const fp = await servedFingerprint(port, root, host).catch(() => undefined);
            if (fp === undefined || !existsSync(file) || fp !== fingerprintOf(file)) return undefined;
            fps.push(fp);
          }
          return fps;
        },
        30_000,
      );
    const first = await served();
    assert.notEqual(first[0], first[1], 'each host has a certificate of its own');
    const before = await processes(d, 'app');
    assert.ok(before.routers.length >= 1);
    assert.deepEqual((await processes(d, 'api')).routers, before.routers, 'the same router processes serve both services');
    const notAfter = async (): Promise<(string | null)[]> => {
      const out: (string | null)[] = [];
      for (const name of ['app', 'api']) {
        const a = (await d.api('GET', `/api/v1/services/${name}`)).json.edge.acme;
        assert.equal(a.length, 1, `${name} has one ACME client`);
        assert.equal(a[0].state, 'valid', `${name}: ${JSON.stringify(a[0])}`);
        out.push(a[0].notAfter);
      }
      return out;
    };
    const obtained = await notAfter();

    const load = tlsLoadHosts(port, root, Object.values(HOSTS));
    try {
      await new Promise((r) => setTimeout(r, 300));
      await d.stop('SIGKILL');
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(await served(), first, 'both certificates with no controller');
      d = await up();
      const after = await waitFor('the new controller to attach', async () => {
        const p = await processes(d, 'app');
        return p.controllers === 1 ? p : undefined;
      });
      assert.deepEqual(after.routers, before.routers, 'the same router processes');
      assert.deepEqual(await served(), first, 'the same certificates after SIGKILL + up');
      assert.deepEqual(await notAfter(), obtained, 'the new controller took the stored certificates');

      const r = await load.stop();
      assert.deepEqual(r.failures, [], `failed requests across the kill and the attach (${r.ok} ok)`);
      assert.ok(r.ok > 0);
      process.stdout.write(`# two ACME hosts, TLS h1+h2 load across SIGKILL + up: ${r.ok} ok, 0 failed, longest gap ${r.maxGapMs} ms\n`);
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  } finally {
    await d.stop();
    await pebble.stop();
    cleanup(s);
    for (const u of ups) await u.close();
    rmSync(ca.dir, { recursive: true, force: true });
  }
});
