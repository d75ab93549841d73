import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { claimProblems, hostProblem, type ListenerClaim } from './claims.ts';

const claim = (service: string, over: Partial<ListenerClaim> = {}): ListenerClaim => ({
  service,
  listen: '0.0.0.0:443',
  tls: false,
  ...over,
});

describe('services sharing a listener', () => {
  it('may share one listen when each names hosts or a path prefix', () => {
    assert.deepEqual(claimProblems([claim('app', { hosts: ['app.example.com'] }), claim('api', { pathPrefix: '/api' })]), []);
  });

  it('a service on a shared listen that names neither is refused at its listen key', () => {
    const p = claimProblems([claim('app', { hosts: ['app.example.com'] }), claim('api')]);
    assert.equal(p.length, 1);
    assert.deepEqual(p[0]?.path, ['services', 'api', 'listen']);
    assert.match(p[0]?.message ?? '', /share 0\.0\.0\.0:443.*add hosts/);
  });

  it('two services claiming the same host and prefix are refused at the second one’s host', () => {
    const p = claimProblems([
      claim('app', { hosts: ['app.example.com'] }),
      claim('api', { hosts: ['api.example.com', 'app.example.com'], pathPrefix: '/' }),
    ]);
    assert.equal(p.length, 1);
    assert.deepEqual(p[0]?.path, ['services', 'api', 'hosts', 1]);
    assert.match(p[0]?.message ?? '', /app already serves app\.example\.com at \//);
  });

  it('the same host with different prefixes is fine, and /api equals /api/', () => {
    assert.deepEqual(claimProblems([claim('a', { hosts: ['x.test'] }), claim('b', { hosts: ['x.test'], pathPrefix: '/api' })]), []);
    const p = claimProblems([claim('a', { pathPrefix: '/api' }), claim('b', { pathPrefix: '/api/' })]);
    assert.deepEqual(p[0]?.path, ['services', 'b', 'pathPrefix']);
  });

  it('a listener is TLS for all of its services or none', () => {
    const p = claimProblems([claim('a', { hosts: ['a.test'], tls: true }), claim('b', { hosts: ['b.test'] })]);
    assert.deepEqual(p[0]?.path, ['services', 'b', 'tls']);
  });

  it('services on listeners of their own need no hosts', () => {
    assert.deepEqual(claimProblems([claim('a', { listen: '127.0.0.1:1' }), claim('b', { listen: '127.0.0.1:2' })]), []);
  });

  it('host names are checked', () => {
    assert.equal(hostProblem('app.example.com'), null);
    assert.equal(hostProblem('*.example.com'), null);
    assert.match(hostProblem('App.example.com') ?? '', /lower case/);
    assert.match(hostProblem('a.*.example.com') ?? '', /wildcard/);
    assert.match(hostProblem('app.example.com:443') ?? '', /port/);
    assert.match(hostProblem('a b') ?? '', /not a host name/);
  });
});
