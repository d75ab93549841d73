// Two services on one TLS listener, as a user sees them: each host gets its own certificate and its
// own upstream, curl --http2 negotiates h2, an unknown host gets 421, trailers reach gRPC-style clients.
import assert from 'node:assert/strict';
import type http from 'node:http';
import { rmSync } from 'node:fs';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { curl, h2Connect, h2Request, httpsGet, startEdge } from './edge-helpers.ts';
import { startUpstream, type Upstream } from './helpers.ts';
import { makeCa, makeCert, type TestCa, type TestCert } from './tls.ts';

function echoHeaders(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  if (req.url?.startsWith('/trailers')) {
    res.setHeader('content-type', 'application/grpc');
    res.addTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' });
    res.write('frame');
    res.end();
    return true;
  }
  if (req.url?.startsWith('/echo')) {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () =>
      res.end(
        JSON.stringify({
          url: req.url,
          proto: req.headers['x-forwarded-proto'],
          host: req.headers.host,
          body,
          te: req.headers['transfer-encoding'] ?? null,
        }),
      ),
    );
    return true;
  }
  return false;
}

describe('two services on one TLS listener', () => {
  let ca: TestCa;
  let app: TestCert;
  let api: TestCert;
  let appUp: Upstream;
  let apiUp: Upstream;
  let edge: Awaited<ReturnType<typeof startEdge>>;

  before(async () => {
    ca = makeCa();
    app = makeCert(ca, ['app.test', '*.app.test'], 'app');
    api = makeCert(ca, ['api.test'], 'api');
    appUp = await startUpstream('app', echoHeaders);
    apiUp = await startUpstream('api', echoHeaders);
    edge = await startEdge([
      {
        name: 'app',
        edge: { hosts: ['app.test', '*.app.test'], stripPrefix: true, tls: { certificate: app.cert, key: app.key } },
        blue: [appUp.address],
      },
      {
        name: 'api',
        edge: { hosts: ['api.test'], pathPrefix: '/v1', stripPrefix: true, tls: { certificate: api.cert, key: api.key } },
        blue: [apiUp.address],
      },
    ]);
  });

  after(async () => {
    await edge.close();
    await appUp.close();
    await apiUp.close();
    rmSync(ca.dir, { recursive: true, force: true });
  });

  it('each host gets its own certificate by SNI', async () => {
    for (const [host, cert] of [
      ['app.test', app],
      ['eu.app.test', app],
      ['api.test', api],
    ] as const) {
      const s = tls.connect({ host: '127.0.0.1', port: edge.port, servername: host, ca: ca.pem, ALPNProtocols: ['h2'] });
      await new Promise((r, j) => s.once('secureConnect', r).once('error', j));
      assert.equal(s.getPeerCertificate().serialNumber.toLowerCase(), cert.serial, host);
      assert.equal(s.alpnProtocol, 'h2');
      s.destroy();
    }
  });

  it('each host reaches its own upstream over HTTP/1.1, told it came over https, the prefix stripped', async () => {
    const a = await httpsGet(edge.port, 'app.test', '/echo', ca.pem);
    assert.equal(a.headers['x-slot'], 'app');
    assert.equal(JSON.parse(a.body).proto, 'https');
    const b = await httpsGet(edge.port, 'api.test', '/v1/echo?x=1', ca.pem);
    assert.equal(b.headers['x-slot'], 'api');
    assert.equal(JSON.parse(b.body).url, '/echo?x=1');
  });

  it('an unknown host gets 421 and a plain body, never another service', async () => {
    // The SNI of a known host with the Host of an unknown one: the Host decides.
    const r = await httpsGet(edge.port, 'nobody.test', '/', ca.pem, 'app.test');
    assert.equal(r.status, 421);
    assert.match(r.body, /no service for host nobody\.test/);
    assert.equal(r.headers['x-slot'], undefined);
    const known = await httpsGet(edge.port, 'api.test', '/v2/x', ca.pem);
    assert.equal(known.status, 404);
    assert.equal(known.headers['x-slot'], undefined);
  });

  it('curl --http2 negotiates h2 and reaches the right service', async () => {
    const r = await curl([
      '--http2',
      '--cacert',
      ca.cert,
      '--resolve',
      `api.test:${edge.port}:127.0.0.1`,
      '-w',
      '\n%{http_version} %{http_code}',
      `https://api.test:${edge.port}/v1/echo`,
    ]);
    assert.equal(r.code, 0, r.out);
    const [body, line] = r.out.split('\n');
    assert.equal(line, '2 200');
    assert.equal(JSON.parse(body ?? '').url, '/echo');
    const miss = await curl([
      '--http2',
      '--cacert',
      ca.cert,
      '--resolve',
      `x.test:${edge.port}:127.0.0.1`,
      '-k',
      '-w',
      '\n%{http_code}',
      `https://x.test:${edge.port}/`,
    ]);
    assert.match(miss.out, /\n421$/);
  });

  it('HTTP/2 streams carry request bodies upstream and trailers back', async () => {
    const s = await h2Connect(edge.port, 'app.test', ca.pem);
    const posted = await h2Request(s, '/echo', { ':method': 'POST' }, 'hello');
    assert.equal(posted.status, 200);
    assert.equal(JSON.parse(posted.body).body, 'hello');
    const t = await h2Request(s, '/trailers', { te: 'trailers' });
    assert.equal(t.body, 'frame');
    assert.equal(t.trailers?.['grpc-status'], '0');
    assert.equal(t.trailers?.['grpc-message'], 'ok');
    // Many streams at once on one connection, each answered by the service its :authority names.
    const all = await Promise.all(Array.from({ length: 50 }, () => h2Request(s, '/')));
    assert.ok(all.every((a) => a.status === 200 && a.body === 'app'));
    s.close();
  });
});
