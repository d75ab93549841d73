// Routing decisions beyond "the live slot": preview by secret token (header, cookie, listener),
// sticky cookies during a progressive shift, and mirroring that never touches the live answer.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { Router } from '../src/router/router.ts';
import type { RouteSpec } from '../src/router/table.ts';
import { freePort, rawExchange, startUpstream, testRouterOptions, waitFor, type Upstream } from './helpers.ts';

function get(
  port: number,
  path = '/',
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders; ms: number }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, ms: performance.now() - start }));
      })
      .on('error', reject);
  });
}

describe('routing by preview token, sticky cookie and mirror', () => {
  let blue: Upstream;
  let green: Upstream;
  let router: Router;
  let port: number;
  let previewPort: number;
  const greenHeaders: http.IncomingHttpHeaders[] = [];
  let greenDelay = 0;
  let generation = 1;

  const apply = (extra: Partial<RouteSpec>): void => {
    router.apply({
      service: 'web',
      generation: ++generation,
      live: 'blue',
      weights: { blue: 100, green: 0 },
      slots: { blue: { version: 'v1', targets: [blue.address] }, green: { version: 'v2', targets: [green.address] } },
      ...extra,
    });
  };

  before(async () => {
    blue = await startUpstream('blue');
    green = await startUpstream('green', (req, res) => {
      greenHeaders.push(req.headers);
      if (greenDelay > 0) {
        setTimeout(() => res.end('green'), greenDelay);
        return;
      }
      return false;
    });
    port = await freePort();
    previewPort = await freePort();
    router = new Router(testRouterOptions(port, { previewListen: `127.0.0.1:${previewPort}` }));
    await router.listen();
    router.setHealth(blue.address, true);
    router.setHealth(green.address, true);
  });
  after(async () => {
    await router.close();
    await blue.close();
    await green.close();
  });

  test('the right preview token in the header reaches the idle slot; a wrong or missing one reaches the live slot', async () => {
    apply({ preview: { slot: 'green', token: 's3cret-token' } });
    assert.equal((await get(port, '/', { 'x-cutover-preview': 's3cret-token' })).body, 'green');
    assert.equal((await get(port, '/', { 'x-cutover-preview': 'wrong' })).body, 'blue');
    assert.equal((await get(port, '/', { 'x-cutover-preview': '' })).body, 'blue');
    assert.equal((await get(port, '/')).body, 'blue');
    const seen = greenHeaders.at(-1)!;
    assert.equal(seen['x-cutover-preview'], undefined, 'the token never reaches the upstream');
  });

  test('the preview token in a cookie reaches the idle slot, and only the exact cookie counts', async () => {
    apply({ preview: { slot: 'green', token: 's3cret-token' } });
    assert.equal((await get(port, '/', { cookie: 'a=1; cutover-preview=s3cret-token; b=2' })).body, 'green');
    assert.equal((await get(port, '/', { cookie: 'xcutover-preview=s3cret-token' })).body, 'blue');
    assert.equal((await get(port, '/', { cookie: 'cutover-preview=s3cret-tokenX' })).body, 'blue');
  });

  test('the preview listener sends every request to the slot in preview, and answers 503 when none is', async () => {
    apply({ preview: { slot: 'green', token: 't' } });
    assert.equal((await get(previewPort, '/')).body, 'green');
    apply({ preview: null });
    const r = await get(previewPort, '/');
    assert.equal(r.status, 503);
    assert.match(r.body, /no release in preview/);
    assert.equal((await get(port, '/', { 'x-cutover-preview': 't' })).body, 'blue', 'an old token is worthless once preview ends');
  });

  test('during a progressive shift a client keeps the slot it first got, through its sticky cookie', async () => {
    apply({ weights: { blue: 50, green: 50 }, sticky: { key: 'rel42' } });
    const first = await get(port, '/');
    const cookie = String(first.headers['set-cookie']?.[0] ?? '');
    assert.match(cookie, new RegExp(`^cutover-slot=rel42\\.${first.body}; Path=/; HttpOnly; SameSite=Lax$`));
    for (let i = 0; i < 20; i++) {
      const r = await get(port, '/', { cookie: cookie.split(';')[0]! });
      assert.equal(r.body, first.body, 'the pinned client never bounces');
      assert.equal(r.headers['set-cookie'], undefined);
    }
    const unpinned = new Set<string>();
    for (let i = 0; i < 60; i++) unpinned.add((await get(port, '/')).body);
    assert.deepEqual([...unpinned].sort(), ['blue', 'green'], 'new clients are spread over both slots');
    // A cookie from another release does not pin.
    const other = new Set<string>();
    for (let i = 0; i < 60; i++) other.add((await get(port, '/', { cookie: 'cutover-slot=rel41.green' })).body);
    assert.equal(other.size, 2);
  });

  test('mirrored copies reach the idle slot while users get the live answer, even when the idle slot hangs', async () => {
    apply({ mirror: { slot: 'green', share: 1 } });
    const before = greenHeaders.length;
    for (let i = 0; i < 10; i++) assert.equal((await get(port, `/m${i}`)).body, 'blue');
    await waitFor('copies on green', () => greenHeaders.length - before >= 10, 5000);
    assert.equal(greenHeaders.at(-1)!['x-cutover-mirror'], '1');
    const snap = router.metrics().slots.green;
    assert.ok(snap.status[2]! >= 10, 'the idle slot counts the mirrored answers');

    greenDelay = 2000;
    const slow = await Promise.all(Array.from({ length: 20 }, (_, i) => get(port, `/slow${i}`)));
    greenDelay = 0;
    assert.ok(slow.every((r) => r.status === 200 && r.body === 'blue'));
    const worst = Math.max(...slow.map((r) => r.ms));
    assert.ok(worst < 1000, `live answers did not wait for the hanging mirror (worst ${worst.toFixed(0)} ms)`);
    const raw = await rawExchange(port, 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi');
    assert.match(raw, /^HTTP\/1\.1 200/, 'requests with a body are not mirrored, and still answered');
    apply({ mirror: null });
  });
});
