// cutover driving HAProxy, nginx and Caddy: the real daemon releases a static service to green and
// rolls back to blue while a steady keep-alive load goes through the balancer (not through cutover's
// router); status shows the adapter, what the balancer reports and that it agrees with the route table.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { keepAliveLoad, startCaddy, startHaproxy, startNginx, type Balancer } from './balancers.ts';
import { startDaemon, startUpstream, waitFor, type Daemon, type Upstream } from './helpers.ts';

const CONNECTIONS = 10;
const QUICK = { standby: '5m', analysis: { interval: '200ms', window: '400ms', inconclusive: 'pass' } };

interface Setup {
  balancer: Balancer;
  traffic: Record<string, unknown>;
}

async function releaseAndRollBack(
  setup: (dir: string) => Promise<Setup>,
  check: (failed: number, errors: string[], switches: number) => void,
  extra: Record<string, unknown> = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-lb-'));
  const blue: Upstream = await startUpstream('blue');
  const green: Upstream = await startUpstream('green');
  const { balancer, traffic } = await setup(dir).catch(async (err) => {
    await blue.close();
    await green.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  let d: Daemon | undefined;
  try {
    d = await startDaemon([blue.address], [green.address], { service: { ...QUICK, traffic, ...extra } });
    const daemon = d;
    const via = async () => (await fetch(`http://127.0.0.1:${balancer.port}/`)).headers.get('x-slot');
    await waitFor('the balancer serving blue', async () => (await via()) === 'blue');
    const load = keepAliveLoad(balancer.port, CONNECTIONS);
    try {
      await waitFor('load through the balancer', () => load.now().ok > 100);

      const r = await daemon.api('POST', '/api/v1/services/web/releases', { version: 'v2' });
      assert.equal(r.status, 202, JSON.stringify(r.json));
      await waitFor(
        'promoted',
        async () => (await daemon.api('GET', `/api/v1/services/web/releases/${r.json.id}`)).json.phase === 'promoted',
        20_000,
      );
      await waitFor('the balancer serving green', async () => (await via()) === 'green', 5000);
      const promoted = (await daemon.api('GET', '/api/v1/services/web')).json;
      assert.equal(promoted.live, 'green');
      assert.equal(promoted.traffic.kind, traffic.kind);
      // Users pass the balancer, not the router: analysis reads HAProxy's counters, and says it has no evidence behind the others.
      const counted = traffic.kind === 'haproxy';
      assert.equal(promoted.analysisSource.source, counted ? 'haproxy' : 'none', JSON.stringify(promoted.analysisSource));
      if (!counted) assert.match(promoted.analysisSource.note, new RegExp(`through ${traffic.kind}.*no evidence.*prometheus rule`));
      if ('listen' in extra) {
        // Left out of the config: the router took a real free port, not the one the test reserved, not 0.
        assert.match(promoted.listen, /^127\.0\.0\.1:\d+$/);
        assert.notEqual(promoted.listen, `127.0.0.1:${daemon.port}`);
        assert.notEqual(promoted.listen, '127.0.0.1:0');
      }
      await waitFor('status agreeing with the route table', async () => {
        const t = (await daemon.api('GET', '/api/v1/services/web')).json.traffic;
        return t.observed?.weights?.green === 100 && t.drift.length === 0 && t.error === null;
      });

      const before = load.now().ok;
      await waitFor('requests on green', () => load.now().ok > before + 100);
      const rb = await daemon.api('POST', '/api/v1/services/web/rollback', { reason: 'test' });
      assert.ok(rb.status < 300, JSON.stringify(rb.json));
      await waitFor('the balancer serving blue again', async () => (await via()) === 'blue', 10_000);
      const after = load.now().ok;
      await waitFor('requests on blue', () => load.now().ok > after + 100);
      const total = await load.stop();
      assert.ok((total.bySlot.green ?? 0) > 100 && (total.bySlot.blue ?? 0) > 100, JSON.stringify(total.bySlot));
      check(total.failed, total.errors, 2);
      const events = (await daemon.api('GET', `/api/v1/services/web/releases/${r.json.id}`)).json.events as {
        type: string;
        reason: string;
      }[];
      assert.ok(
        events.some((e) => e.type === 'traffic' && e.reason.includes(`asking ${traffic.kind} to serve`)),
        'the intent is recorded before the switch',
      );
      if (!counted) {
        assert.ok(
          events.some((e) => e.type === 'analysis' && /warning: .*have no evidence behind it/.test(e.reason)),
          'the release says its analysis had no evidence',
        );
      }
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  } finally {
    await d?.stop();
    await balancer.stop();
    await blue.close();
    await green.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a release (gated through the preview on a free port, no listen configured) and a rollback through HAProxy fail no request under keep-alive load', async () => {
  await releaseAndRollBack(
    async (dir) => {
      const h = await startHaproxy(dir);
      return { balancer: h, traffic: { kind: 'haproxy', socket: h.socket, backend: h.backend } };
    },
    (failed, errors) => assert.equal(failed, 0, errors.join(', ')),
    // No listen: the embedded router takes a free loopback port, where the gate previews green.
    { listen: undefined, gates: [{ http: { requests: [{ path: '/', expect: { status: 200, body: 'green' } }] } }] },
  );
});

test('a release and a rollback through nginx reach each slot, with at most one dropped request per keep-alive connection per switch', async () => {
  await releaseAndRollBack(
    async (dir) => {
      const n = await startNginx(dir);
      return { balancer: n, traffic: { kind: 'nginx', upstreamFile: n.upstreamFile, upstream: 'web', reload: n.reload, check: n.check } };
    },
    (failed, errors, switches) => {
      process.stderr.write(`nginx via cutover: ${failed} failed over ${switches} switches at ${CONNECTIONS} connections\n`);
      assert.ok(failed <= CONNECTIONS * switches, `${failed} failed: ${errors.join(', ')}`);
    },
  );
});

test('a release and a rollback through Caddy reach each slot, with at most one dropped request per keep-alive connection per switch', async () => {
  await releaseAndRollBack(
    async (dir) => {
      const c = await startCaddy(dir, { upstreamIdle: '1s' });
      return { balancer: c, traffic: { kind: 'caddy', admin: c.admin, route: c.route } };
    },
    (failed, errors, switches) => {
      process.stderr.write(`caddy via cutover: ${failed} failed over ${switches} switches at ${CONNECTIONS} connections\n`);
      assert.ok(failed <= CONNECTIONS * switches, `${failed} failed: ${errors.join(', ')}`);
    },
  );
});
