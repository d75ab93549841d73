// The release's routing on a TLS listener, through the real daemon, over HTTP/1.1 and HTTP/2 alike:
// the mirror gate copies live requests of both protocols to the idle slot (answers dropped, users
// never see them), the preview token (header or cookie) reaches the idle slot and nothing else does,
// and during a progressive shift the sticky cookie pins a client to its slot on either protocol.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type http from 'node:http';
import type http2 from 'node:http2';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import { curl, h2Connect, h2Request } from './edge-helpers.ts';
import { freePort, startDaemon, startUpstream, type Daemon, type Upstream, waitFor } from './helpers.ts';
import { makeCa, makeCert, type TestCa } from './tls.ts';

interface Seen {
  url: string;
  mirror: boolean;
  proto: string | undefined;
  preview: string | undefined;
}

function recorder(into: Seen[]): (req: http.IncomingMessage) => boolean {
  return (req) => {
    into.push({
      url: req.url ?? '',
      mirror: req.headers['x-cutover-mirror'] === '1',
      proto: req.headers['x-forwarded-proto'] as string | undefined,
      preview: req.headers['x-cutover-preview'] as string | undefined,
    });
    return false; // answered with the slot's name
  };
}

function h1(
  port: number,
  ca: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; setCookie: string[] }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path, servername: 'app.test', headers: { host: 'app.test', ...headers }, ca, agent: false },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, setCookie: res.headers['set-cookie'] ?? [] }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('preview, sticky cookies and mirroring on a TLS listener', () => {
  let ca: TestCa;
  let blue: Upstream;
  let green: Upstream;
  const blueSeen: Seen[] = [];
  const greenSeen: Seen[] = [];
  let d: Daemon;
  let port: number;
  let session: http2.ClientHttp2Session;
  let releaseId: string;

  before(async () => {
    ca = makeCa();
    const cert = makeCert(ca, ['app.test'], 'app');
    blue = await startUpstream('blue', recorder(blueSeen));
    green = await startUpstream('green', recorder(greenSeen));
    port = await freePort();
    d = await startDaemon([], [], {
      services: {
        app: {
          listen: `127.0.0.1:${port}`,
          hosts: ['app.test'],
          tls: { certificate: cert.cert, key: cert.key },
          drain: '2s',
          provider: { kind: 'static', blue: [blue.address], green: [green.address] },
          health: { path: '/healthz', interval: '100ms' },
          gates: [{ mirror: { share: 1, duration: '8s', maxErrorRateDelta: 0.05 } }],
          approval: 'manual',
          shift: { steps: [50, 100], hold: '5m' },
          analysis: { interval: '250ms', window: '1s', minSamples: 1, inconclusive: 'pass' },
        },
      },
    });
    await waitFor('healthy targets', async () => {
      const r = await d.api('GET', '/api/v1/services/app');
      return (
        r.json.live === 'blue' &&
        [...r.json.slots.blue.targets, ...r.json.slots.green.targets].every((t: { healthy: boolean }) => t.healthy)
      );
    });
    session = await h2Connect(port, 'app.test', ca.pem);
  });

  after(async () => {
    session?.close();
    await d?.stop();
    await Promise.all([blue?.close(), green?.close()]);
    if (ca) rmSync(ca.dir, { recursive: true, force: true });
  });

  it('the mirror gate copies live GETs of HTTP/2 and HTTP/1.1 clients to the idle slot, marked https, and users only get the live answer', async () => {
    const r = await d.api('POST', '/api/v1/services/app/releases', { version: 'v2' });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    releaseId = r.json.id;
    // Live traffic until the first copy reaches green: from then on the gate copies everything.
    await waitFor(
      'the first mirrored copy',
      async () => {
        assert.equal((await h2Request(session, '/warm')).body, 'blue');
        return greenSeen.some((s) => s.mirror);
      },
      20_000,
    );
    const paths: string[] = [];
    for (let i = 0; i < 10; i++) {
      paths.push(`/m/h2-${i}`, `/m/h1-${i}`);
      assert.equal((await h2Request(session, `/m/h2-${i}`)).body, 'blue', 'an HTTP/2 user gets the live answer');
      assert.equal((await h1(port, ca.pem, `/m/h1-${i}`)).body, 'blue', 'an HTTP/1.1 user gets the live answer');
    }
    const copies = await waitFor('a copy of every request', () => {
      const got = greenSeen.filter((s) => s.mirror && s.url.startsWith('/m/'));
      return got.length >= paths.length ? got : undefined;
    });
    assert.deepEqual(copies.map((c) => c.url).sort(), [...paths].sort());
    assert.ok(
      copies.every((c) => c.proto === 'https'),
      `the copies say the client came over https: ${JSON.stringify(copies.map((c) => c.proto))}`,
    );
    assert.equal(greenSeen.filter((s) => !s.mirror).length, 0, 'green served no user');
    const st = await waitFor('the release to await approval', async () => {
      const rel = (await d.api('GET', `/api/v1/services/app/releases/${releaseId}`)).json;
      return rel.phase === 'awaiting-approval' ? rel : undefined;
    });
    assert.equal(st.gates[0].outcome, 'passed', st.gates[0].summary);
  });

  it('the preview token by header or cookie reaches the idle slot over HTTP/2, HTTP/1.1 and curl --http2, and never the upstream', async () => {
    const rel = (await d.api('GET', `/api/v1/services/app/releases/${releaseId}`)).json;
    const token: string = rel.preview?.token;
    assert.ok(token, `the release shows its preview token to an admin: ${JSON.stringify(rel.preview)}`);
    const header = rel.preview.header as string;
    const cookie = rel.preview.cookie as string;
    const before = greenSeen.length;
    assert.equal((await h2Request(session, '/p/h2', { [header]: token })).body, 'green');
    assert.equal((await h2Request(session, '/p/h2c', { cookie: `a=1; ${cookie}=${token}` })).body, 'green');
    assert.equal((await h1(port, ca.pem, '/p/h1', { [header]: token })).body, 'green');
    assert.equal((await h1(port, ca.pem, '/p/h1c', { cookie: `${cookie}=${token}` })).body, 'green');
    const c = await curl([
      '--http2',
      '--cacert',
      ca.cert,
      '--resolve',
      `app.test:${port}:127.0.0.1`,
      '-b',
      `${cookie}=${token}`,
      '-w',
      '\n%{http_version}',
      `https://app.test:${port}/p/curl`,
    ]);
    assert.equal(c.code, 0, c.out);
    assert.deepEqual(c.out.trim().split('\n'), ['green', '2']);
    // A wrong token, or none, is a user like any other: the live slot.
    assert.equal((await h2Request(session, '/p/wrong', { [header]: `${token}x` })).body, 'blue');
    assert.equal((await h1(port, ca.pem, '/p/wrong', { [header]: 'nope' })).body, 'blue');
    assert.equal((await h2Request(session, '/p/none')).body, 'blue');
    const previews = greenSeen.slice(before);
    assert.deepEqual(
      previews.map((s) => s.url),
      ['/p/h2', '/p/h2c', '/p/h1', '/p/h1c', '/p/curl'],
    );
    assert.ok(
      previews.every((s) => s.preview === undefined && s.proto === 'https'),
      'the token stays at the edge on both protocols',
    );
  });

  it('during a progressive shift the sticky cookie pins each client to its slot over HTTP/2 and HTTP/1.1', async () => {
    const p = await d.api('POST', '/api/v1/services/app/promote');
    assert.equal(p.status, 200, JSON.stringify(p.json));
    await waitFor('the 50% step', async () => (await d.api('GET', '/api/v1/services/app')).json.weights.green === 50);
    const ask = async (
      proto: 'h2' | 'h1',
      path: string,
      headers: Record<string, string> = {},
    ): Promise<{ body: string; setCookie: string[] }> => {
      if (proto === 'h1') return h1(port, ca.pem, path, headers);
      const a = await h2Request(session, path, headers);
      const sc = a.headers['set-cookie'];
      return { body: a.body, setCookie: sc === undefined ? [] : Array.isArray(sc) ? sc : [sc] };
    };
    for (const proto of ['h2', 'h1'] as const) {
      for (let client = 0; client < 4; client++) {
        const first = await ask(proto, '/s/first');
        const pin = first.setCookie.map((c) => /^cutover-slot=([^;]+)/.exec(c)?.[1]).find((v) => v !== undefined);
        assert.ok(pin, `${proto}: the first answer pins the client: ${JSON.stringify(first.setCookie)}`);
        assert.ok(pin.endsWith(first.body), `${proto}: the cookie names the slot that answered (${pin}, ${first.body})`);
        for (let i = 0; i < 8; i++) {
          assert.equal(
            (await ask(proto, '/s/next', { cookie: `cutover-slot=${pin}` })).body,
            first.body,
            `${proto}: a pinned client stays on ${first.body}`,
          );
        }
      }
    }
  });
});
