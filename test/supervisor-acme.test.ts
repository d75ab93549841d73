// An ACME service runs its edge in the supervisor's router processes while its one ACME client stays
// in the controller. Against Debian's pebble (TLS-ALPN-01 answered by the routers), under TLS
// keep-alive load with 0 failed requests: a controller SIGKILL + up and a SIGHUP keep the routers and
// the certificate; with `workers: 2` both workers serve the one client's certificate, and a renewal
// by a restarted controller reaches both without dropping a connection.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type tls from 'node:tls';
import { parse, stringify } from 'yaml';
import { acmeFiles } from '../src/edge/acme.ts';
import { h2Connect, h2Request } from './edge-helpers.ts';
import { freePort, startUpstream, type Upstream, waitFor } from './helpers.ts';
import { cleanup, type Running, type Setup, startUp } from './lifecycle-helpers.ts';
import { type Pebble, startPebble } from './pebble.ts';
import { processes, writeStatic } from './supervisor-helpers.ts';
import { servedFingerprint, tlsLoad } from './tls-load.ts';
import { makeCa, type TestCa } from './tls.ts';

const HOST = 'app.test';
const ATTACHED = '"msg":"attached to the supervisor"';
const count = (text: string, what: string): number => text.split(what).length - 1;
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const fingerprintOf = (file: string): string => new X509Certificate(readFileSync(file)).fingerprint256;

describe('an ACME service in the supervisor’s router processes', () => {
  let ca: TestCa;
  let blue: Upstream;
  let green: Upstream;

  before(async () => {
    ca = makeCa();
    blue = await startUpstream('blue');
    green = await startUpstream('green');
  });

  after(async () => {
    await blue?.close();
    await green?.close();
    if (ca) rmSync(ca.dir, { recursive: true, force: true });
  });

  /** Pebble validating TLS-ALPN-01 on a fresh port, and a config whose `web` is an ACME service there. */
  async function start(extra: Record<string, unknown> = {}): Promise<{ pebble: Pebble; port: number; s: Setup; cert: string }> {
    const port = await freePort();
    const pebble = await startPebble(ca, { httpPort: await freePort(), tlsPort: port });
    const s = await writeStatic(blue.address, green.address, {
      listen: `127.0.0.1:${port}`,
      hosts: [HOST],
      tls: { acme: { email: 'ops@example.test', directory: pebble.directory } },
      ...extra,
    });
    return { pebble, port, s, cert: acmeFiles(join(s.dir, 'state', 'acme'), pebble.directory, HOST).cert };
  }

  /** `cutover up`, trusting pebble's own HTTPS the way an operator trusts a private ACME server. */
  const up = (s: Setup): Promise<Running> => startUp(s, undefined, { NODE_EXTRA_CA_CERTS: ca.cert });

  /** Waits until the routers serve the certificate file the controller's ACME client wrote (other than `not`). */
  function servedFromFile(port: number, root: string, cert: string, not?: string): Promise<string> {
    return waitFor(
      'the routers to serve the ACME certificate on disk',
      async () => {
        const fp = await servedFingerprint(port, root, HOST).catch(() => undefined);
        return fp !== undefined && fp !== not && existsSync(cert) && fp === fingerprintOf(cert) ? fp : undefined;
      },
      30_000,
    );
  }

  /** Each worker serves `fp`: with the other one stopped, every handshake is its own. */
  async function everyWorkerServes(routers: number[], port: number, root: string, fp: string): Promise<void> {
    for (const [i, pid] of routers.entries()) {
      const others = routers.filter((p) => p !== pid);
      for (const o of others) process.kill(o, 'SIGSTOP');
      try {
        for (let n = 0; n < 5; n++) assert.equal(await servedFingerprint(port, root, HOST), fp, `worker ${i} (pid ${pid}) serves it`);
      } finally {
        for (const o of others) process.kill(o, 'SIGCONT');
      }
    }
  }

  const acmeState = async (d: Running): Promise<{ state: string; notAfter: string | null }> =>
    (await d.api('GET', '/api/v1/services/web')).json.edge.acme[0];

  it('under TLS keep-alive load a controller SIGKILL + up, then a SIGHUP with changed ACME settings: 0 failed, the same routers, the same certificate, none ordered again', async () => {
    const { pebble, port, s, cert } = await start();
    let d = await up(s);
    try {
      const root = await pebble.root();
      const first = await servedFromFile(port, root, cert);
      const before = await processes(d);
      assert.equal(before.routers.length, 1, 'the supervisor runs the ACME service in its router process');
      const obtained = await acmeState(d);
      assert.equal(obtained.state, 'valid');

      const load = tlsLoad(port, root, HOST);
      try {
        await pause(300);
        await d.stop('SIGKILL');
        // No controller and no ACME client now: the routers go on serving the certificate file.
        await pause(500);
        assert.equal(await servedFingerprint(port, root, HOST), first, 'the same certificate with no controller');
        d = await up(s);
        const after = await waitFor('the new controller to attach', async () => {
          const p = await processes(d);
          return p.controllers === 1 ? p : undefined;
        });
        assert.equal(after.supervisor, before.supervisor, 'the same supervisor');
        assert.deepEqual(after.routers, before.routers, 'the same router processes');
        assert.equal(after.generation, before.generation, 'no generation lost or repeated by the attach');
        assert.equal(await servedFingerprint(port, root, HOST), first, 'the same certificate after SIGKILL + up');

        // The SIGHUP brings a changed ACME account address and renewal margin: the client's, not the routers'.
        const file = parse(readFileSync(s.file, 'utf8'));
        file.services.web.tls.acme = { ...file.services.web.tls.acme, email: 'certs@example.test', renewBefore: '500h' };
        writeFileSync(s.file, stringify(file));
        d.child.kill('SIGHUP');
        await waitFor('the SIGHUP restart to attach', () => count(d.output(), ATTACHED) === 2, 30_000);
        await waitFor('the API again', async () => (await d.api('GET', '/api/v1/services/web')).status === 200, 30_000);
        assert.deepEqual((await processes(d)).routers, before.routers, 'the same router processes across SIGHUP with a changed tls.acme');
        assert.equal(await servedFingerprint(port, root, HOST), first, 'the same certificate after SIGHUP');
        const kept = await acmeState(d);
        assert.deepEqual(
          [kept.state, kept.notAfter],
          ['valid', obtained.notAfter],
          'the restarted controllers took the stored certificate',
        );

        const r = await load.stop();
        assert.deepEqual(r.failures, [], `failed requests across the kill, the attach and SIGHUP (${r.ok} ok)`);
        assert.ok(r.ok > 0);
        process.stdout.write(`# ACME TLS h1+h2 load across SIGKILL + up and SIGHUP: ${r.ok} ok, 0 failed, longest gap ${r.maxGapMs} ms\n`);
      } finally {
        // A failed assertion must stop the load too, or its clients would run on until their deadline.
        await load.stop();
      }
    } finally {
      await d.stop();
      await pebble.stop();
      cleanup(s);
    }
  });

  it('with workers: 2 one ACME client gets the certificate for both workers, and its renewal after a SIGHUP reaches both under load without a dropped connection', async () => {
    const { pebble, port, s, cert } = await start({ workers: 2 });
    const d = await up(s);
    try {
      const root = await pebble.root();
      const first = await servedFromFile(port, root, cert);
      const { routers } = await processes(d);
      assert.equal(routers.length, 2);
      await everyWorkerServes(routers, port, root, first);
      const edge = (await d.api('GET', '/api/v1/services/web')).json.edge;
      assert.equal(edge.acme.length, 1, 'one ACME client for the service, not one per worker');
      const obtained = edge.acme[0];
      assert.equal(obtained.state, 'valid');

      // The stored certificate made to look as old as its lifetime: the next controller finds it due.
      const x = new X509Certificate(readFileSync(cert));
      const aged = new Date(2 * Date.parse(x.validFrom) - Date.parse(x.validTo));
      utimesSync(cert, aged, aged);
      const load = tlsLoad(port, root, HOST);
      try {
        const open = await h2Connect(port, HOST, root);
        open.on('error', () => {});
        assert.equal((open.socket as tls.TLSSocket).getPeerCertificate().fingerprint256, first);
        d.child.kill('SIGHUP');
        await waitFor('the SIGHUP restart to attach', () => count(d.output(), ATTACHED) === 2, 30_000);
        const renewed = await servedFromFile(port, root, cert, first);
        assert.equal((await h2Request(open, '/')).status, 200, 'a connection opened before the renewal goes on');
        open.close();
        await everyWorkerServes(routers, port, root, renewed);
        const state = await waitFor('status to show the renewed certificate', async () => {
          const a = await acmeState(d);
          return a.notAfter !== obtained.notAfter ? a : undefined;
        });
        assert.equal(state.state, 'valid');
        assert.deepEqual((await processes(d)).routers, routers, 'the same router processes across SIGHUP and the renewal');

        const r = await load.stop();
        assert.deepEqual(r.failures, [], `failed requests across SIGHUP and the renewal (${r.ok} ok)`);
        assert.ok(r.ok > 0);
      } finally {
        // A failed assertion must stop the load too, or its clients would run on until their deadline.
        await load.stop();
      }
    } finally {
      await d.stop();
      await pebble.stop();
      cleanup(s);
    }
  });
});
