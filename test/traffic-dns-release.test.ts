// cutover driving DNS: the real daemon releases a static service whose slots have their own loopback
// addresses, and `dig` at Debian's PowerDNS and BIND answers the new slot after the switch and the
// old one after a rollback; the observation window starts only after the TTL.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { RECORD, ZONE, dig, startBind, startPowerDns, type RunningDns } from './dns-servers.ts';
import { freePort, startDaemon, waitFor } from './helpers.ts';

const TTL = 1;

function upstream(host: string, port: number, slot: string): Promise<http.Server> {
  const server = http.createServer((req, res) => res.end(req.url === '/healthz' ? 'ok' : slot));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

async function releaseAndRollBack(server: RunningDns, traffic: Record<string, unknown>): Promise<void> {
  const port = await freePort();
  const ups = [await upstream('127.0.0.2', port, 'blue'), await upstream('127.0.0.3', port, 'green')];
  const d = await startDaemon([`127.0.0.2:${port}`], [`127.0.0.3:${port}`], {
    service: {
      traffic: { ...traffic, zone: ZONE, record: RECORD, ttl: TTL },
      standby: '5m',
      analysis: { interval: '200ms', window: '400ms', inconclusive: 'pass' },
    },
  });
  try {
    await waitFor('the record on blue', () => dig(server).addresses.join() === '127.0.0.2', 10_000);
    const r = await d.api('POST', '/api/v1/services/web/releases', { version: 'v2' });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    await waitFor(
      'promoted',
      async () => (await d.api('GET', `/api/v1/services/web/releases/${r.json.id}`)).json.phase === 'promoted',
      20_000,
    );
    assert.deepEqual(dig(server), { addresses: ['127.0.0.3'], ttl: TTL }, 'the switch is recorded once the authority answers green');
    const events = (await d.api('GET', `/api/v1/services/web/releases/${r.json.id}`)).json.events as {
      phase?: string;
      time: string;
      type: string;
      data: Record<string, unknown>;
    }[];
    const switched = events.find((e) => e.type === 'phase' && e.phase === 'observing');
    const outcome = events.find((e) => e.type === 'analysis' && e.data.kind === 'outcome');
    assert.ok(switched && outcome, JSON.stringify(events.map((e) => e.type)));
    assert.ok(
      Date.parse(outcome.time) - Date.parse(switched.time) >= TTL * 1000 + 400,
      'the observation window ran only after clients could follow (the TTL)',
    );
    const rb = await d.api('POST', '/api/v1/services/web/rollback', { reason: 'test' });
    assert.ok(rb.status < 300, JSON.stringify(rb.json));
    await waitFor('the authority answering blue after the rollback', () => dig(server).addresses.join() === '127.0.0.2', 5000);
    const st = (await d.api('GET', '/api/v1/services/web')).json;
    assert.equal(st.live, 'blue');
    await waitFor('status agreeing with the route table', async () => {
      const t = (await d.api('GET', '/api/v1/services/web')).json.traffic;
      return t.observed?.weights?.blue === 100 && t.drift.length === 0;
    });
  } finally {
    await d.stop();
    for (const u of ups) await new Promise((r) => u.close(r));
  }
}

test('a release and a rollback move the PowerDNS record users resolve, as dig sees it', async () => {
  const pdns = await startPowerDns(['127.0.0.9']);
  process.env.CUTOVER_TEST_PDNS_KEY = pdns.apiKey;
  try {
    await releaseAndRollBack(pdns, {
      kind: 'dns',
      api: 'powerdns',
      server: pdns.api,
      apiKeyEnv: 'CUTOVER_TEST_PDNS_KEY',
      nameserver: `127.0.0.1:${pdns.port}`,
    });
  } finally {
    await pdns.stop();
  }
});

test('a release and a rollback move the BIND record by signed RFC 2136 updates, as dig sees it', async () => {
  const bind = await startBind(['127.0.0.9']);
  process.env.CUTOVER_TEST_TSIG = bind.keySecret;
  try {
    await releaseAndRollBack(bind, {
      kind: 'dns',
      api: 'rfc2136',
      server: `127.0.0.1:${bind.port}`,
      tsig: { name: bind.keyName, secretEnv: 'CUTOVER_TEST_TSIG' },
    });
  } finally {
    await bind.stop();
  }
});
