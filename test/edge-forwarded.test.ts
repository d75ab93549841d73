// trustedProxies on an edge listener (issue 17): over TLS, with HTTP/1.1 and with HTTP/2, what a
// client claims in X-Forwarded-For/-Proto, Forwarded and X-Real-IP is replaced by the router's own
// view unless the peer is one of the service's trusted proxies, whose chain is appended to. Two
// services share the listener: one trusts loopback, one trusts nobody.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import { h2Connect, h2Request, startEdge } from './edge-helpers.ts';
import { startUpstream, type Upstream } from './helpers.ts';
import { makeCa, makeCert, type TestCa } from './tls.ts';

const CLAIMS = {
  'x-forwarded-for': '203.0.113.7',
  'x-forwarded-proto': 'http',
  'x-real-ip': '203.0.113.7',
  forwarded: 'for=203.0.113.7;proto=http',
};
const NAMES = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip', 'forwarded'] as const;

function h1(port: number, host: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path: '/', servername: host, headers: { host, ...CLAIMS }, ca, agent: false },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(body));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('trustedProxies on a TLS listener', () => {
  let ca: TestCa;
  let up: Upstream;
  let edge: Awaited<ReturnType<typeof startEdge>>;

  before(async () => {
    ca = makeCa();
    // The upstream answers with the forwarding fields it got.
    up = await startUpstream('blue', (req, res) => {
      res.end(JSON.stringify(Object.fromEntries(NAMES.map((n) => [n, req.headers[n] ?? null]))));
      return true;
    });
    const trusting = makeCert(ca, ['trusting.test'], 'trusting');
    const strict = makeCert(ca, ['strict.test'], 'strict');
    edge = await startEdge([
      {
        name: 'trusting',
        edge: { hosts: ['trusting.test'], stripPrefix: true, tls: { certificate: trusting.cert, key: trusting.key } },
        blue: [up.address],
        router: { trustedProxies: ['127.0.0.0/8'] },
      },
      {
        name: 'strict',
        edge: { hosts: ['strict.test'], stripPrefix: true, tls: { certificate: strict.cert, key: strict.key } },
        blue: [up.address],
      },
    ]);
  });

  after(async () => {
    await edge.close();
    await up.close();
    rmSync(ca.dir, { recursive: true, force: true });
  });

  const own = (host: string) => ({
    'x-forwarded-for': '127.0.0.1',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': host,
    'x-real-ip': '127.0.0.1',
    forwarded: `for=127.0.0.1;host="${host}";proto=https`,
  });
  const appended = (host: string) => ({
    'x-forwarded-for': '203.0.113.7, 127.0.0.1',
    'x-forwarded-proto': 'http',
    'x-forwarded-host': host,
    'x-real-ip': '203.0.113.7',
    forwarded: `for=203.0.113.7;proto=http, for=127.0.0.1;host="${host}";proto=https`,
  });

  it('HTTP/1.1 over TLS: an untrusted peer’s claims are replaced, a trusted one’s chain goes on', async () => {
    assert.deepEqual(JSON.parse(await h1(edge.port, 'strict.test', ca.pem)), own('strict.test'));
    assert.deepEqual(JSON.parse(await h1(edge.port, 'trusting.test', ca.pem)), appended('trusting.test'));
  });

  it('HTTP/2: the same, per service on the same connection’s listener', async () => {
    for (const host of ['strict.test', 'trusting.test']) {
      const s = await h2Connect(edge.port, host, ca.pem);
      try {
        const r = await h2Request(s, '/', CLAIMS);
        assert.equal(r.status, 200);
        // The client's :authority carries the port.
        const authority = `${host}:${edge.port}`;
        assert.deepEqual(JSON.parse(r.body), host === 'strict.test' ? own(authority) : appended(authority));
        const bare = await h2Request(s, '/');
        assert.deepEqual(JSON.parse(bare.body), own(authority), 'with no claims, the router’s own view either way');
      } finally {
        s.close();
      }
    }
  });
});
