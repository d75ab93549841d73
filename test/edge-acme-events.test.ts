// ACME through the real daemon against Debian's pebble: the certificate obtained at start, its
// renewal, and a renewal that fails with pebble gone are each a `certificate` event in the store
// (seen on GET /api/v1/events), and status shows the failure while the old certificate is served.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { freePort, startDaemon, startUpstream, type Daemon, type Upstream, waitFor } from './helpers.ts';
import { type Pebble, startPebble } from './pebble.ts';
import { makeCa, type TestCa } from './tls.ts';

interface CertEvent {
  type: string;
  service: string;
  actor: string;
  reason: string;
  data: { host: string; outcome: string; notAfter: string | null; error: string | null; nextAttempt: string | null };
}

/** Follows the daemon's event stream (from its first event) and keeps what it gets. */
function follow(d: Daemon, query: string): { events: CertEvent[]; close(): void } {
  const ctrl = new AbortController();
  const events: CertEvent[] = [];
  void (async () => {
    const res = await fetch(`http://127.0.0.1:${d.apiPort}/api/v1/events?${query}`, {
      headers: { authorization: `Bearer ${d.token}` },
      signal: ctrl.signal,
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const text = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += text.decode(value, { stream: true });
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const data = buf
          .slice(0, i)
          .split('\n')
          .find((l) => l.startsWith('data: '));
        buf = buf.slice(i + 2);
        if (data !== undefined) events.push(JSON.parse(data.slice(6)) as CertEvent);
      }
    }
  })().catch(() => {});
  return { events, close: () => ctrl.abort() };
}

function serial(port: number, root: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Not verified: the certificates live 12 s here and the last one may have expired by now.
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'app.test', ca: root, rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().serialNumber);
      s.destroy();
    });
    s.once('error', reject);
  });
}

describe('ACME certificates in the event log and status', () => {
  let ca: TestCa;
  let up: Upstream;
  let pebble: Pebble;
  let d: Daemon;
  let port: number;
  let feed: ReturnType<typeof follow>;
  const extraCa = process.env.NODE_EXTRA_CA_CERTS;

  before(async () => {
    ca = makeCa();
    up = await startUpstream('blue');
    port = await freePort();
    // Certificates live 12 s: renewal comes 4 s before expiry (a third of the lifetime).
    pebble = await startPebble(ca, { httpPort: await freePort(), tlsPort: port, validitySeconds: 12 });
    // The daemon trusts pebble's own HTTPS the way an operator trusts a private ACME server.
    process.env.NODE_EXTRA_CA_CERTS = ca.cert;
    d = await startDaemon([], [], {
      services: {
        app: {
          listen: `127.0.0.1:${port}`,
          hosts: ['app.test'],
          tls: { acme: { email: 'ops@example.test', directory: pebble.directory, renewBefore: '480h' } },
          provider: { kind: 'static', blue: [up.address] },
          health: { path: '/healthz', interval: '100ms' },
        },
      },
    });
    feed = follow(d, 'after=0&service=app&types=certificate');
  });

  after(async () => {
    if (extraCa === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
    else process.env.NODE_EXTRA_CA_CERTS = extraCa;
    feed?.close();
    await d?.stop();
    await pebble?.stop();
    await up?.close();
    if (ca) rmSync(ca.dir, { recursive: true, force: true });
  });

  const outcome = (o: string): CertEvent | undefined => feed.events.find((e) => e.data.outcome === o);

  it('the certificate obtained at start is an event naming the host, the ACME server and its expiry', async () => {
    const e = await waitFor('a certificate obtained', () => outcome('obtained'), 30_000);
    assert.equal(e.type, 'certificate');
    assert.equal(e.service, 'app');
    assert.equal(e.actor, 'controller');
    assert.equal(e.data.host, 'app.test');
    assert.ok(e.data.notAfter !== null && Date.parse(e.data.notAfter) > Date.now() - 60_000);
    assert.match(e.reason, new RegExp(`certificate for app\\.test obtained from ${pebble.directory.replace(/[.]/g, '\\.')}, valid until `));
    const st = (await d.api('GET', '/api/v1/services/app')).json;
    assert.equal(st.edge.acme[0].state, 'valid');
  });

  it('its renewal ahead of expiry is an event too, and the renewed certificate is served', async () => {
    const first = await serial(port, await pebble.root());
    const e = await waitFor('a certificate renewed', () => outcome('renewed'), 30_000);
    assert.match(e.reason, /certificate for app\.test renewed from .*, valid until /);
    assert.notEqual(e.data.notAfter, outcome('obtained')?.data.notAfter);
    assert.notEqual(await serial(port, await pebble.root()), first);
  });

  it('with pebble gone the failed renewal is an event that says what to check and when it is tried again; status shows it and the certificate is still served', async () => {
    const root = await pebble.root();
    await pebble.stop();
    const served = await serial(port, root);
    const e = await waitFor('a failed renewal', () => outcome('failed'), 60_000);
    assert.match(
      e.reason,
      /obtaining a certificate for app\.test from https:\/\/127\.0\.0\.1:\d+\/dir failed: the ACME directory .* did not answer .*; retrying in \d+s \(check that this machine reaches https:\/\/127\.0\.0\.1:\d+\/dir/,
    );
    assert.match(e.reason, /the certificate valid until .* is still served/);
    assert.ok(e.data.nextAttempt !== null && e.data.error !== null);
    const st = (await d.api('GET', '/api/v1/services/app')).json;
    assert.equal(st.edge.acme[0].state, 'error');
    assert.equal(st.edge.acme[0].error, e.data.error);
    assert.equal(await serial(port, root), served);
  });
});
