import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHostPort, sameListener } from './address.ts';

test('host:port addresses are split into host and port', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseHostPort('localhost:1'), { host: 'localhost', port: 1 });
  assert.deepEqual(parseHostPort('app.internal.example:65535'), { host: 'app.internal.example', port: 65535 });
  assert.deepEqual(parseHostPort('[::1]:8080'), { host: '::1', port: 8080 });
  assert.deepEqual(parseHostPort('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
});

test('addresses without a host, without a port or with a port out of range are refused', () => {
  assert.throws(() => parseHostPort(8080), /a bare port is not enough/);
  assert.throws(() => parseHostPort(':8080'), /has no host; write 0.0.0.0:8080/);
  assert.throws(() => parseHostPort('localhost'), /has no port/);
  assert.throws(() => parseHostPort('localhost:0'), /use a port from 1 to 65535/);
  assert.throws(() => parseHostPort('localhost:65536'), /use a port from 1 to 65535/);
  assert.throws(() => parseHostPort('localhost:http'), /no valid port/);
  assert.throws(() => parseHostPort('300.1.1.1:80'), /not a host name or IPv4 address/);
  assert.throws(() => parseHostPort('bad_host:80'), /not a host name/);
});

test('IPv6 hosts must be written in brackets', () => {
  assert.throws(() => parseHostPort('::1:8080'), /put the host in brackets/);
  assert.throws(() => parseHostPort('[nope]:8080'), /not an IPv6 address/);
  assert.throws(() => parseHostPort('[::1]8080'), /is not an address/);
});

test('listeners clash on the same port when hosts match or either is a wildcard', () => {
  const a = (s: string) => parseHostPort(s);
  assert.equal(sameListener(a('127.0.0.1:80'), a('127.0.0.1:80')), true);
  assert.equal(sameListener(a('LOCALHOST:80'), a('localhost:80')), true);
  assert.equal(sameListener(a('0.0.0.0:80'), a('127.0.0.1:80')), true);
  assert.equal(sameListener(a('[::1]:80'), a('[::]:80')), true);
  assert.equal(sameListener(a('127.0.0.1:80'), a('127.0.0.2:80')), false);
  assert.equal(sameListener(a('127.0.0.1:80'), a('127.0.0.1:81')), false);
});
