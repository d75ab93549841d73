// `workers: 2` with ACME and no supervisor to hand sockets over (a fleet's `cutover router`): the one
// ACME client runs in this process, its TLS-ALPN-01 challenge is answered by whichever worker the
// ACME server (Debian's pebble) reaches, and every worker serves the certificate the client wrote.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import acme from 'acme-client';
import { acmeFiles } from '../src/edge/acme.ts';
import { EdgeWorkersHost } from '../src/edge/workers.ts';
import { liveSpec, quiet } from './edge-helpers.ts';
import { freePort, startUpstream, testRouterOptions, waitFor } from './helpers.ts';
import { startPebble } from './pebble.ts';
import { servedFingerprint } from './tls-load.ts';
import { makeCa } from './tls.ts';

const HOST = 'app.test';

function peer(port: number, ca: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: HOST, ca }, () => resolve(s));
    s.once('error', reject);
  });
}

test('workers: 2 without a supervisor: one ACME client in this process gets the certificate, and each worker serves it', async () => {
  const ca = makeCa();
  const up = await startUpstream('blue');
  const storage = mkdtempSync(join(tmpdir(), 'cutover-acme-workers-'));
  const port = await freePort();
  const pebble = await startPebble(ca, { httpPort: await freePort(), tlsPort: port });
  // Pebble's own HTTPS is signed by the test CA; this process trusts it as NODE_EXTRA_CA_CERTS would.
  acme.axios.defaults.httpsAgent = new https.Agent({ ca: ca.pem });
  const directory = pebble.directory;
  const host = new EdgeWorkersHost(
    { ...testRouterOptions(0, { service: 'app' }), listen: `127.0.0.1:${port}` },
    2,
    {
      hosts: [HOST],
      stripPrefix: true,
      tls: { acme: { email: 'ops@example.test', directory, renewBefore: 3600_000 } },
      acmeStorage: storage,
    },
    quiet,
  );
  try {
    await host.listen();
    host.setHealth(up.address, true);
    await host.apply(liveSpec('app', [up.address], [], 'blue', 1));
    const root = await pebble.root();
    const file = acmeFiles(storage, directory, HOST).cert;
    const fp = await waitFor(
      'the workers to serve the ACME certificate on disk',
      async () => {
        const served = await servedFingerprint(port, root, HOST).catch(() => undefined);
        return served !== undefined && existsSync(file) && served === new X509Certificate(readFileSync(file)).fingerprint256
          ? served
          : undefined;
      },
      30_000,
    );
    assert.equal(host.acmeStatus().length, 1, 'one ACME client for the service');
    // Reported valid once every worker was told to load it (a worker may see the file change first).
    await waitFor('the client to report the certificate', () => host.acmeStatus()[0]?.state === 'valid');
    const pids = host.processes().map((p) => p.pid as number);
    assert.equal(pids.length, 2);
    // Each worker binds its own socket (SO_REUSEPORT) and the kernel spreads connections over them:
    // 20 connections, each shown the certificate, are held by both workers (ss names their pids).
    const open = await Promise.all(Array.from({ length: 20 }, () => peer(port, root)));
    try {
      for (const c of open) assert.equal(c.getPeerCertificate().fingerprint256, fp);
      const out = execFileSync('ss', ['-Htnp', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
      const holders = new Set([...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])));
      for (const pid of pids) assert.ok(holders.has(pid), `worker pid ${pid} holds some of the connections: ${out}`);
    } finally {
      for (const c of open) c.destroy();
    }
  } finally {
    await host.close();
    await pebble.stop();
    await up.close();
    rmSync(storage, { recursive: true, force: true });
    rmSync(ca.dir, { recursive: true, force: true });
  }
});
