// Webhooks against real local receivers: one that fails twice before it takes a delivery, one that
// never answers and one that is not there. Deliveries are signed and retried with backoff, and the
// release moves on as if none of them existed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { parse, stringify } from 'yaml';
import { sign, webhookBody, webhookEventOf } from '../src/notify/webhooks.ts';
import type { StoreEvent } from '../src/store/types.ts';
import { CLI, freePort, startUpstream, waitFor } from './helpers.ts';
import { cleanup, startUp, writeSetup } from './lifecycle-helpers.ts';

const ev = (over: Partial<StoreEvent>): StoreEvent => ({
  seq: 7,
  time: '2026-01-01T00:00:00.000Z',
  service: 'web',
  releaseId: 'rel_1',
  type: 'phase',
  actor: 'controller',
  reason: 'r',
  data: {},
  ...over,
});

test('store events map to webhook events, and the body has a Slack text naming service, version and slot', () => {
  assert.equal(webhookEventOf(ev({ phase: 'pending' })), 'release-started');
  assert.equal(webhookEventOf(ev({ phase: 'promoted' })), 'promoted');
  assert.equal(webhookEventOf(ev({ phase: 'rolled-back' })), 'rolled-back');
  assert.equal(webhookEventOf(ev({ phase: 'retired' })), 'retired');
  assert.equal(webhookEventOf(ev({ phase: 'verifying' })), null);
  assert.equal(webhookEventOf(ev({ type: 'gate', data: { result: { outcome: 'failed' } } })), 'gate-failed');
  assert.equal(webhookEventOf(ev({ type: 'gate', data: { result: { outcome: 'passed' } } })), null);
  assert.equal(webhookEventOf(ev({ type: 'analysis', data: { kind: 'outcome', outcome: { verdict: 'fail' } } })), 'analysis-failed');
  assert.equal(webhookEventOf(ev({ type: 'analysis', data: { kind: 'tick', tick: { verdict: 'fail' } } })), null);
  assert.equal(webhookEventOf(ev({ type: 'switch' })), null);
  const body = webhookBody('rolled-back', ev({ phase: 'rolled-back', reason: 'p99 too high\nmore' }), {
    id: 'rel_1',
    service: 'web',
    version: 'v2',
    slot: 'green',
    fromSlot: 'blue',
    phase: 'rolled-back',
    createdAt: '',
    updatedAt: '',
  });
  assert.match(body.text, /\*web\*: release of v2 rolled back: traffic is on blue again \(controller\) - p99 too high$/);
  assert.equal(body.release?.version, 'v2');
  assert.equal(sign('k', '{}'), `sha256=${createHmac('sha256', 'k').update('{}').digest('hex')}`);
});

interface Received {
  at: number;
  headers: http.IncomingHttpHeaders;
  raw: string;
}

test('a receiver that fails twice gets the delivery on the third try, signed; a hanging and a missing receiver never hold up the release', async () => {
  const received: Received[] = [];
  const triesOf = new Map<string, number>();
  const receiver = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      received.push({ at: Date.now(), headers: req.headers, raw });
      const id = String(req.headers['x-cutover-delivery']);
      const n = (triesOf.get(id) ?? 0) + 1;
      triesOf.set(id, n);
      res.statusCode = n <= 2 ? 500 : 200;
      res.end(n <= 2 ? 'not now' : 'ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  // Takes the connection and the request, and never answers.
  const hanging = net.createServer((s) => s.on('data', () => {}));
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
  const nobody = await freePort();
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');

  const s = await writeSetup({
    provider: { kind: 'static', blue: [blue.address], green: [green.address] },
    analysis: { interval: '200ms', window: '10m' },
  });
  const config = parse(readFileSync(s.file, 'utf8'));
  const url = (p: number) => `http://127.0.0.1:${p}/hook`;
  config.notifications = {
    webhooks: [
      {
        url: url((receiver.address() as net.AddressInfo).port),
        events: ['release-started', 'rolled-back'],
        secret: 'CUTOVER_TEST_HOOK_SECRET',
      },
      {
        url: url((hanging.address() as net.AddressInfo).port),
        events: ['release-started', 'promoted', 'rolled-back', 'retired', 'gate-failed', 'analysis-failed'],
      },
      { url: url(nobody), events: ['release-started', 'rolled-back'] },
    ],
  };
  writeFileSync(s.file, stringify(config));
  process.env.CUTOVER_TEST_HOOK_SECRET = `hook-secret-${Math.random().toString(36).slice(2)}`;
  const d = await startUp(s);
  try {
    await waitFor('healthy', async () => {
      const st = (await d.api('GET', '/api/v1/services/web')).json;
      return st.slots.blue.targets.every((t: any) => t.healthy) && st.slots.green.targets.every((t: any) => t.healthy);
    });
    const started = Date.now();
    const r = await d.api('POST', '/api/v1/services/web/releases', { version: 'v2' });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    await waitFor(
      'observing',
      async () => (await d.api('GET', `/api/v1/services/web/releases/${r.json.id}`)).json.phase === 'observing',
      10_000,
    );
    assert.ok(Date.now() - started < 8000, `the release moved at its own pace (${Date.now() - started} ms)`);
    const t0 = Date.now();
    const rb = await d.api('POST', '/api/v1/services/web/rollback', {});
    assert.equal(rb.status, 200, JSON.stringify(rb.json));
    assert.ok(Date.now() - t0 < 2000, 'a rollback does not wait for webhooks');
    assert.equal(await (await fetch(`http://127.0.0.1:${s.port}/`)).text(), 'blue');

    // The release-started delivery: two 500s, then taken; the same delivery id, growing waits.
    await waitFor(
      'three tries of release-started',
      () => received.filter((x) => x.headers['x-cutover-event'] === 'release-started').length >= 3,
      15_000,
    );
    const tries = received.filter((x) => x.headers['x-cutover-event'] === 'release-started');
    assert.equal(tries.length, 3, 'no try after the one that was taken');
    assert.equal(new Set(tries.map((x) => x.headers['x-cutover-delivery'])).size, 1);
    assert.deepEqual(
      tries.map((x) => x.headers['x-cutover-attempt']),
      ['1', '2', '3'],
    );
    const gap1 = tries[1]!.at - tries[0]!.at;
    const gap2 = tries[2]!.at - tries[1]!.at;
    assert.ok(gap1 >= 700 && gap2 >= 1500 && gap2 > gap1, `backoff grows: ${gap1} ms, then ${gap2} ms`);
    for (const t of tries) {
      assert.equal(t.headers['content-type'], 'application/json');
      const expected: string = `sha256=${createHmac('sha256', process.env.CUTOVER_TEST_HOOK_SECRET!).update(t.raw).digest('hex')}`;
      assert.equal(t.headers['x-cutover-signature'], expected, 'signed with the key from the environment');
    }
    const body = JSON.parse(tries[2]!.raw);
    assert.equal(body.event, 'release-started');
    assert.equal(body.service, 'web');
    assert.equal(body.release.id, r.json.id);
    assert.equal(body.release.version, 'v2');
    assert.match(body.text, /web.*release of v2 started into green/);
    await waitFor('rolled-back taken', () => received.filter((x) => x.headers['x-cutover-event'] === 'rolled-back').length >= 3, 15_000);
    // Only the events this receiver asked for.
    assert.ok(received.every((x) => ['release-started', 'rolled-back'].includes(String(x.headers['x-cutover-event']))));
    // The release's story has nothing about webhooks in it.
    const rel = (await d.api('GET', `/api/v1/services/web/releases/${r.json.id}`)).json;
    assert.equal(rel.phase, 'rolled-back');
    assert.ok(!JSON.stringify(rel.events).includes('hook'));
    assert.match(d.output(), /webhook failed; retrying/);
  } finally {
    await d.stop();
    cleanup(s);
    delete process.env.CUTOVER_TEST_HOOK_SECRET;
    receiver.closeAllConnections();
    await new Promise((r) => receiver.close(r));
    await new Promise((r) => hanging.close(r));
    await blue.close();
    await green.close();
  }
});

test('a webhook secret that names an unset environment variable stops `up` with a message that says what to export', async () => {
  const blue = await startUpstream('blue');
  const s = await writeSetup({ provider: { kind: 'static', blue: [blue.address], green: [] } });
  const config = parse(readFileSync(s.file, 'utf8'));
  config.notifications = { webhooks: [{ url: 'http://127.0.0.1:9/hook', events: ['promoted'], secret: 'CUTOVER_TEST_UNSET_SECRET' }] };
  writeFileSync(s.file, stringify(config));
  try {
    const r = spawnSync(process.execPath, [CLI, 'up', '-c', s.file], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, CUTOVER_TOKEN: s.token },
    });
    assert.notEqual(r.status, 0);
    assert.match(
      r.stderr,
      /CUTOVER_E_CONFIG_INVALID: notifications\.webhooks\[0\]\.secret: the environment variable CUTOVER_TEST_UNSET_SECRET is not set; export/,
    );
  } finally {
    cleanup(s);
    await blue.close();
  }
});
