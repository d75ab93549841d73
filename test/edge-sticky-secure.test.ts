// During a progressive shift the sticky cookie is Secure where users reach the service over TLS (so a
// browser never sends it over plain HTTP) and not on a plain HTTP listener (where a browser would not
// keep it), and attributes written in the config go out as written. The real daemon in the middle of
// a 50% step, Debian's curl over HTTP/2 and HTTP/1.1 with TLS, and fetch over plain HTTP.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { curl } from './edge-helpers.ts';
import { type Daemon, freePort, startDaemon, startUpstream, type Upstream, waitFor } from './helpers.ts';
import { makeCa, makeCert, type TestCa } from './tls.ts';

/** The Set-Cookie lines curl prints with -D - (headers only), for `host` on `port` over `proto`. */
async function curlCookies(proto: '--http2' | '--http1.1', ca: TestCa, host: string, port: number): Promise<string[]> {
  const r = await curl([
    proto,
    '-D',
    '-',
    '-o',
    '/dev/null',
    '--cacert',
    ca.cert,
    '--resolve',
    `${host}:${port}:127.0.0.1`,
    `https://${host}:${port}/`,
  ]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, proto === '--http2' ? /^HTTP\/2 200/ : /^HTTP\/1\.1 200/);
  return r.out
    .split('\r\n')
    .filter((l) => /^set-cookie:/i.test(l))
    .map((l) => l.slice(l.indexOf(':') + 1).trim());
}

describe('the sticky cookie over TLS and plain HTTP', () => {
  let ca: TestCa;
  let blue: Upstream;
  let green: Upstream;
  let d: Daemon;
  const ports: Record<string, number> = {};

  before(async () => {
    ca = makeCa();
    const cert = makeCert(ca, ['app.test', 'shop.test'], 'edge');
    blue = await startUpstream('blue');
    green = await startUpstream('green');
    for (const name of ['web', 'app', 'shop']) ports[name] = await freePort();
    const common = {
      drain: '1s',
      provider: { kind: 'static', blue: [blue.address], green: [green.address] },
      health: { path: '/healthz', interval: '100ms' },
      shift: { steps: [50, 100], hold: '5m' },
      analysis: { interval: '250ms', window: '1s', minSamples: 1, inconclusive: 'pass' },
    };
    const tls = { tls: { certificate: cert.cert, key: cert.key } };
    d = await startDaemon([], [], {
      services: {
        web: { ...common, listen: `127.0.0.1:${ports.web}` },
        app: { ...common, ...tls, listen: `127.0.0.1:${ports.app}`, hosts: ['app.test'] },
        // The operator's own attributes: sent as written, even on TLS.
        shop: {
          ...common,
          ...tls,
          listen: `127.0.0.1:${ports.shop}`,
          hosts: ['shop.test'],
          sticky: { attributes: 'Path=/shop; SameSite=Strict' },
        },
      },
    });
    for (const name of ['web', 'app', 'shop']) {
      await waitFor(`${name} live on blue with healthy targets`, async () => {
        const s = (await d.api('GET', `/api/v1/services/${name}`)).json;
        return s.live === 'blue' && [...s.slots.blue.targets, ...s.slots.green.targets].every((t: { healthy: boolean }) => t.healthy);
      });
      const r = await d.api('POST', `/api/v1/services/${name}/releases`, { version: 'v2' });
      assert.equal(r.status, 202, JSON.stringify(r.json));
    }
    for (const name of ['web', 'app', 'shop'])
      await waitFor(
        `${name} at the 50% step`,
        async () => (await d.api('GET', `/api/v1/services/${name}`)).json.weights.green === 50,
        30_000,
      );
  });

  after(async () => {
    await d?.stop();
    await Promise.all([blue?.close(), green?.close()]);
    if (ca) rmSync(ca.dir, { recursive: true, force: true });
  });

  it('over TLS (HTTP/2 and HTTP/1.1) the cookie that pins a client is Secure', async () => {
    for (const proto of ['--http2', '--http1.1'] as const) {
      const cookies = await curlCookies(proto, ca, 'app.test', ports.app!);
      assert.equal(cookies.length, 1, `${proto}: ${JSON.stringify(cookies)}`);
      assert.match(cookies[0]!, /^cutover-slot=[^;]+\.(blue|green); Path=\/; HttpOnly; SameSite=Lax; Secure$/, proto);
    }
  });

  it('over plain HTTP the cookie is not Secure, and a browser-like client keeps and sends it', async () => {
    const first = await fetch(`http://127.0.0.1:${ports.web}/`);
    const [cookie] = first.headers.getSetCookie();
    const slot = await first.text();
    assert.match(cookie ?? '', /^cutover-slot=[^;]+\.(blue|green); Path=\/; HttpOnly; SameSite=Lax$/);
    assert.ok(cookie!.split(';')[0]!.endsWith(slot), `${cookie} names ${slot}`);
    for (let i = 0; i < 5; i++) {
      const next = await fetch(`http://127.0.0.1:${ports.web}/`, { headers: { cookie: cookie!.split(';')[0]! } });
      assert.equal(await next.text(), slot, 'the pinned client stays on its slot');
    }
  });

  it('attributes written in the config are sent as written, without a Secure added', async () => {
    const cookies = await curlCookies('--http2', ca, 'shop.test', ports.shop!);
    assert.deepEqual(
      cookies.map((c) => c.replace(/^cutover-slot=[^;]+/, 'cutover-slot=…')),
      ['cutover-slot=…; Path=/shop; SameSite=Strict'],
    );
  });
});
