import assert from 'node:assert/strict';
import { test } from 'node:test';
import { joinHostPort, reachableHost, splitHostPort } from './address.ts';

test('an IPv4, a name and a bracketed IPv6 address split into host and port, and join back as written', () => {
  for (const [address, host, port] of [
    ['127.0.0.1:8080', '127.0.0.1', 8080],
    ['localhost:3000', 'localhost', 3000],
    ['[::1]:9900', '::1', 9900],
  ] as const) {
    assert.deepEqual(splitHostPort(address), { host, port });
    assert.equal(joinHostPort(host, port), address);
  }
});

test('a wildcard listener is reached on loopback, any other host as it is', () => {
  assert.equal(reachableHost('0.0.0.0'), '127.0.0.1');
  assert.equal(reachableHost('::'), '127.0.0.1');
  assert.equal(reachableHost('10.0.0.7'), '10.0.0.7');
});
