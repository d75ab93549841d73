import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recordAddresses } from './dns.ts';
import { PowerDnsBackend } from './powerdns.ts';

test('a slot becomes one A or AAAA record per distinct IP of its targets (a record has no port)', () => {
  assert.deepEqual(recordAddresses(['10.0.0.1:80', '10.0.0.1:81', '[2001:db8::1]:80']), [
    { type: 'A', address: '10.0.0.1' },
    { type: 'AAAA', address: '2001:db8::1' },
  ]);
});

test('a target named by host name cannot go into an address record', () => {
  assert.throws(() => recordAddresses(['blue.internal:80']), /host name; a DNS switch needs IP addresses/);
});

test('the PowerDNS PATCH replaces the families the slot has and deletes the one it has none of', () => {
  assert.deepEqual(PowerDnsBackend.body({ record: 'web.example.test.', ttl: 5 }, [{ type: 'A', address: '10.0.0.1' }]), {
    rrsets: [
      { name: 'web.example.test.', type: 'A', ttl: 5, changetype: 'REPLACE', records: [{ content: '10.0.0.1', disabled: false }] },
      { name: 'web.example.test.', type: 'AAAA', changetype: 'DELETE' },
    ],
  });
});
