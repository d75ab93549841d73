// The DNS adapter against Debian's PowerDNS (HTTP API) and BIND (RFC 2136 + TSIG), each started here
// on loopback: what `dig` answers for the record follows a switch and a rollback, and a server that
// is unreachable or refuses the change fails the switch with a coded reason.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PowerDnsTraffic, Rfc2136Traffic } from '../src/config/types.ts';
import { isCutoverError } from '../src/errors.ts';
import { createDnsAdapter, type DnsAdapter } from '../src/traffic/dns.ts';
import type { TrafficState } from '../src/traffic/types.ts';
import { RECORD, ZONE, dig, startBind, startPowerDns, type RunningBind, type RunningPowerDns } from './dns-servers.ts';
import { freePort } from './helpers.ts';

// Blue and green on their own loopback addresses: DNS tells slots apart by address only.
const BLUE = ['127.0.0.2:8080', '127.0.0.3:8080'];
const GREEN = ['127.0.0.4:8080'];

let generation = 1;
const live = (slot: 'blue' | 'green'): TrafficState => ({
  generation: ++generation,
  live: slot,
  weights: { blue: slot === 'blue' ? 100 : 0, green: slot === 'green' ? 100 : 0 },
  slots: { blue: { version: '1.0.0', targets: BLUE }, green: { version: '1.1.0', targets: GREEN } },
});

async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err) => {
    assert.ok(isCutoverError(err), `expected a CutoverError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

/** The switch and rollback every DNS api must show the same way to `dig`. */
async function switchesAndRollsBack(adapter: DnsAdapter, server: { host: string; port: number }): Promise<void> {
  assert.deepEqual(dig(server).addresses, ['127.0.0.2'], 'the record starts on the old address');
  await adapter.apply(live('blue'));
  assert.deepEqual(dig(server), { addresses: ['127.0.0.2', '127.0.0.3'], ttl: 5 });
  await adapter.apply(live('green'));
  // apply resolves only once the authority answers: dig sees the switch at once, with the TTL asked for.
  assert.deepEqual(dig(server), { addresses: ['127.0.0.4'], ttl: 5 });
  const observed = await adapter.observe();
  assert.deepEqual(observed.weights, { blue: 0, green: 100 });
  assert.deepEqual(observed.targets, { blue: [], green: GREEN });
  assert.match(observed.detail, /web\.example\.test\. answers 127\.0\.0\.4 \(TTL 5s\)/);
  await adapter.apply(live('blue'));
  assert.deepEqual(dig(server).addresses, ['127.0.0.2', '127.0.0.3'], 'a rollback puts the old addresses back');
  assert.deepEqual((await adapter.observe()).weights, { blue: 100, green: 0 });
}

describe('DNS through PowerDNS', () => {
  let pdns: RunningPowerDns;
  const config = (over: Partial<PowerDnsTraffic> = {}): PowerDnsTraffic => ({
    kind: 'dns',
    api: 'powerdns',
    server: pdns.api,
    serverId: 'localhost',
    apiKeyEnv: 'PDNS_API_KEY',
    zone: ZONE,
    record: RECORD,
    ttl: 5,
    timeout: 5000,
    nameserver: `127.0.0.1:${pdns.port}`,
    ...over,
  });
  before(async () => {
    pdns = await startPowerDns(['127.0.0.2']);
  });
  after(async () => {
    await pdns?.stop();
  });

  test('dig answers the new slot once a switch returns, and the old one after a rollback', async () => {
    const adapter = createDnsAdapter(config(), { PDNS_API_KEY: pdns.apiKey });
    assert.equal(adapter.settleAfter, 5000, 'analysis waits out the TTL');
    assert.deepEqual(adapter.capabilities, { lossless: true, weighted: false, eventual: true });
    await switchesAndRollsBack(adapter, pdns);
  });

  test('a wrong API key fails the switch as refused and leaves the record as it was', async () => {
    const before = dig(pdns).addresses;
    const adapter = createDnsAdapter(config(), { PDNS_API_KEY: 'not-the-key' });
    await rejectsWith(adapter.apply(live('green')), 'CUTOVER_E_TRAFFIC_REFUSED', /HTTP 401.*check the key in PDNS_API_KEY/);
    assert.deepEqual(dig(pdns).addresses, before);
  });

  test('an API nobody listens on fails the switch as unreachable', async () => {
    const adapter = createDnsAdapter(config({ server: `http://127.0.0.1:${await freePort()}` }), { PDNS_API_KEY: pdns.apiKey });
    await rejectsWith(adapter.apply(live('green')), 'CUTOVER_E_TRAFFIC_UNREACHABLE', /cannot reach the PowerDNS API/);
  });

  test('a missing API key variable is refused before anything is switched', () => {
    assert.throws(() => createDnsAdapter(config(), {}), /PDNS_API_KEY .* is not set/);
  });
});

describe('DNS through RFC 2136 updates with TSIG (BIND)', () => {
  let bind: RunningBind;
  const config = (over: Partial<Rfc2136Traffic> = {}): Rfc2136Traffic => ({
    kind: 'dns',
    api: 'rfc2136',
    server: `127.0.0.1:${bind.port}`,
    tsig: { name: bind.keyName, algorithm: 'hmac-sha256', secretEnv: 'CUTOVER_TSIG_SECRET' },
    zone: ZONE,
    record: RECORD,
    ttl: 5,
    timeout: 5000,
    ...over,
  });
  before(async () => {
    bind = await startBind(['127.0.0.2']);
  });
  after(async () => {
    await bind?.stop();
  });

  test('dig answers the new slot once a switch returns, and the old one after a rollback', async () => {
    await switchesAndRollsBack(createDnsAdapter(config(), { CUTOVER_TSIG_SECRET: bind.keySecret }), bind);
  });

  test('an update signed with the wrong secret is refused by BIND and changes nothing', async () => {
    const before = dig(bind).addresses;
    const adapter = createDnsAdapter(config(), { CUTOVER_TSIG_SECRET: Buffer.alloc(32, 7).toString('base64') });
    await rejectsWith(adapter.apply(live('green')), 'CUTOVER_E_TRAFFIC_REFUSED', /NOTAUTH \(BADSIG\)/);
    assert.deepEqual(dig(bind).addresses, before);
  });

  test('a name outside the key update-policy is refused by BIND', async () => {
    const adapter = createDnsAdapter(config({ record: 'api.example.test.' }), { CUTOVER_TSIG_SECRET: bind.keySecret });
    await rejectsWith(adapter.apply(live('green')), 'CUTOVER_E_TRAFFIC_REFUSED', /answered the update with REFUSED/);
  });

  test('a primary nobody listens on fails the switch as unreachable', async () => {
    const adapter = createDnsAdapter(config({ server: `127.0.0.1:${await freePort()}` }), { CUTOVER_TSIG_SECRET: bind.keySecret });
    await rejectsWith(adapter.apply(live('green')), 'CUTOVER_E_TRAFFIC_UNREACHABLE', /cannot reach the DNS server at 127\.0\.0\.1:\d+/);
  });

  test('slots that share an address are refused: DNS cannot tell them apart', async () => {
    const adapter = createDnsAdapter(config(), { CUTOVER_TSIG_SECRET: bind.keySecret });
    const state = live('green');
    state.slots.green.targets = ['127.0.0.2:9090'];
    await rejectsWith(adapter.apply(state), 'CUTOVER_E_TRAFFIC_REFUSED', /share 127\.0\.0\.2.*its own IPs/);
  });
});
