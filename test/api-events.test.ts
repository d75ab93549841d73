// The API's event stream and its OpenAPI document: a release's phases arrive over SSE in order, a
// client that reconnects with Last-Event-ID misses nothing, and the document describes every route.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDaemon, startUpstream, waitFor, type Daemon } from './helpers.ts';

interface Sse {
  messages: { id: number; event: string; data: any }[];
  close(): void;
}

/** Follows /api/v1/events with fetch, as the dashboard does, collecting messages. */
async function follow(d: Daemon, query = '', lastEventId?: number): Promise<Sse> {
  const ac = new AbortController();
  const headers: Record<string, string> = { authorization: `Bearer ${d.token}`, accept: 'text/event-stream' };
  if (lastEventId !== undefined) headers['last-event-id'] = String(lastEventId);
  const res = await fetch(`http://127.0.0.1:${d.apiPort}/api/v1/events${query}`, { headers, signal: ac.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
  const sse: Sse = { messages: [], close: () => ac.abort() };
  void (async () => {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const f: Record<string, string> = {};
          for (const line of block.split('\n')) {
            const m = /^(\w+): ?(.*)$/.exec(line);
            if (m) f[m[1]!] = m[2]!;
          }
          if (f.data !== undefined) sse.messages.push({ id: Number(f.id), event: f.event!, data: JSON.parse(f.data) });
        }
      }
    } catch {
      // aborted
    }
  })();
  return sse;
}

test("SSE delivers a release's phases and route changes in order, and a reconnect with Last-Event-ID misses nothing", async () => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  const d = await startDaemon([blue.address], [green.address], {
    service: { standby: '10m', analysis: { interval: '200ms', window: '10m' } },
  });
  const streams: Sse[] = [];
  try {
    const sse = await follow(d, '?service=web');
    streams.push(sse);
    const phasesOnly = await follow(d, '?types=phase');
    streams.push(phasesOnly);
    const r = await d.api('POST', '/api/v1/services/web/releases', { version: 'v2' });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    const phases = () => sse.messages.filter((m) => m.event === 'phase').map((m) => m.data.phase);
    await waitFor('observing over SSE', () => phases().includes('observing'), 15_000);
    assert.equal((await d.api('POST', '/api/v1/services/web/rollback', { reason: 'test' })).status, 200);
    await waitFor('rolled-back over SSE', () => phases().includes('rolled-back'), 5000);
    await waitFor('the switch back over SSE', () => sse.messages.some((m) => m.event === 'switch' && m.data.data.to === 'blue'), 5000);

    assert.deepEqual(phases(), ['pending', 'provisioning', 'verifying', 'shifting', 'observing', 'rolled-back']);
    const ids = sse.messages.map((m) => m.id);
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
      'in seq order',
    );
    assert.equal(new Set(ids).size, ids.length, 'no event twice');
    // The route change comes after shifting started and before observing; the rollback's after rolled-back.
    const at = (pred: (m: Sse['messages'][number]) => boolean) => sse.messages.findIndex(pred);
    const toGreen = at((m) => m.event === 'switch' && m.data.data.to === 'green');
    assert.ok(at((m) => m.data.phase === 'shifting') < toGreen && toGreen < at((m) => m.data.phase === 'observing'));
    assert.ok(at((m) => m.data.phase === 'rolled-back') < at((m) => m.event === 'switch' && m.data.data.to === 'blue'));
    assert.ok(sse.messages.every((m) => m.data.service === 'web' && m.data.seq === m.id));
    // The audit entry of the rollback is in the stream too.
    await waitFor(
      'the audit event',
      () => sse.messages.some((m) => m.event === 'audit' && m.data.data.path === '/api/v1/services/web/rollback'),
      5000,
    );
    // A filtered stream has only what it asked for, and the same phases.
    await waitFor('the filtered stream', () => phasesOnly.messages.length >= 6, 5000);
    assert.ok(phasesOnly.messages.every((m) => m.event === 'phase'));
    assert.deepEqual(
      phasesOnly.messages.map((m) => m.data.phase),
      phases(),
    );

    // A client that lost its connection after `pending` gets everything after it, in order.
    const pending = sse.messages.find((m) => m.data.phase === 'pending')!;
    const again = await follow(d, '?service=web', pending.id);
    streams.push(again);
    const after = sse.messages.filter((m) => m.id > pending.id).map((m) => m.id);
    await waitFor('the replay', () => again.messages.length >= after.length, 5000);
    assert.deepEqual(
      again.messages.slice(0, after.length).map((m) => m.id),
      after,
    );

    // The stream needs a token like every API call.
    assert.equal((await fetch(`http://127.0.0.1:${d.apiPort}/api/v1/events`)).status, 401);
  } finally {
    for (const s of streams) s.close();
    await d.stop();
    await blue.close();
    await green.close();
  }
});

test('the OpenAPI 3.1 document describes every route with its role, and its body schemas are the ones the API enforces', async () => {
  const blue = await startUpstream('blue');
  const d = await startDaemon([blue.address], []);
  try {
    const res = await fetch(`http://127.0.0.1:${d.apiPort}/api/v1/openapi.json`);
    assert.equal(res.status, 200, 'readable without a token');
    const doc = (await res.json()) as any;
    assert.equal(doc.openapi, '3.1.0');
    const ops = Object.entries(doc.paths).flatMap(([path, methods]: [string, any]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`),
    );
    for (const op of [
      'GET /api/v1/services',
      'GET /api/v1/services/{service}',
      'POST /api/v1/services/{service}/releases',
      'GET /api/v1/services/{service}/releases',
      'GET /api/v1/services/{service}/releases/{release}',
      'POST /api/v1/services/{service}/promote',
      'POST /api/v1/services/{service}/rollback',
      'POST /api/v1/services/{service}/abort',
      'POST /api/v1/services/{service}/switch',
      'GET /api/v1/events',
      'POST /api/v1/tokens',
      'GET /api/v1/tokens',
      'DELETE /api/v1/tokens/{id}',
      'GET /api/v1/audit',
    ]) {
      assert.ok(ops.includes(op), `${op} is documented`);
    }
    const release = doc.paths['/api/v1/services/{service}/releases'].post;
    assert.equal(release['x-cutover-role'], 'deployer');
    const body = release.requestBody.content['application/json'].schema;
    assert.equal(body.type, 'object');
    assert.equal(body.additionalProperties, false);
    assert.deepEqual(body.required, ['version']);
    assert.equal(body.properties.version.pattern, '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$');
    assert.deepEqual(
      doc.paths['/api/v1/services/{service}/switch'].post.requestBody.content['application/json'].schema.properties.slot.enum,
      ['blue', 'green'],
    );
    assert.equal(doc.paths['/api/v1/services/{service}/switch'].post['x-cutover-role'], 'admin');
    assert.ok(doc.paths['/api/v1/events'].get.responses['200'].content['text/event-stream']);
    assert.equal(doc.paths['/api/v1/tokens'].post.responses['201'].content['application/json'].schema.properties.token.type, 'string');
    assert.equal(doc.components.securitySchemes.bearer.scheme, 'bearer');
    assert.equal(
      doc.paths['/api/v1/services/{service}/releases'].post.responses['413'].content['application/json'].schema.$ref,
      '#/components/schemas/Error',
    );
    // What the document's pattern refuses, the API refuses.
    const bad = await d.api('POST', '/api/v1/services/web/releases', { version: '-v2' });
    assert.equal(bad.status, 400);
    assert.ok(!new RegExp(body.properties.version.pattern).test('-v2'));
  } finally {
    await d.stop();
    await blue.close();
  }
});
