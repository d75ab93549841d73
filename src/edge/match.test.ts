import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildEdgeTable, type EdgeRoute, hostCovers, isMiss, matchRoute, normaliseHost, normalisePrefix } from './match.ts';

const route = (service: string, hosts: string[], pathPrefix = '/', stripPrefix = true): EdgeRoute<string> => ({
  service,
  hosts,
  pathPrefix: normalisePrefix(pathPrefix),
  stripPrefix,
  value: service,
});

function serviceFor(routes: EdgeRoute<string>[], host: string | null, target: string): string {
  const m = matchRoute(buildEdgeTable(routes), host, target);
  return isMiss(m) ? `${m.status}` : `${m.route.service} ${m.target}`;
}

describe('host and path matching on a shared listener', () => {
  const routes = [
    route('app', ['app.example.com', '*.app.example.com']),
    route('api', ['api.example.com']),
    route('admin', ['app.example.com'], '/admin/'),
    route('wild', ['*.example.com']),
  ];

  it('an exact host beats a wildcard that also covers it', () => {
    assert.equal(serviceFor(routes, 'api.example.com', '/'), 'api /');
    assert.equal(serviceFor(routes, 'other.example.com', '/x'), 'wild /x');
  });

  it('a wildcard covers exactly one label', () => {
    assert.equal(serviceFor(routes, 'eu.app.example.com', '/'), 'app /');
    assert.equal(serviceFor(routes, 'a.b.app.example.com', '/'), '421');
  });

  it('the longest path prefix wins and is stripped at a segment boundary', () => {
    assert.equal(serviceFor(routes, 'app.example.com', '/admin/users?x=1'), 'admin /users?x=1');
    assert.equal(serviceFor(routes, 'app.example.com', '/admin'), 'admin /');
    assert.equal(serviceFor(routes, 'app.example.com', '/admin?x'), 'admin /?x');
    assert.equal(serviceFor(routes, 'app.example.com', '/administrator'), 'app /administrator');
  });

  it('stripPrefix: false sends the path as it came', () => {
    assert.equal(serviceFor([route('a', [], '/api', false), route('b', [], '/')], 'x', '/api/v1'), 'a /api/v1');
  });

  it('Host is matched without case, port or trailing dot', () => {
    assert.equal(serviceFor(routes, 'API.Example.COM:8443', '/'), 'api /');
    assert.equal(serviceFor(routes, 'api.example.com.', '/'), 'api /');
    assert.equal(normaliseHost('[::1]:443'), '::1');
  });

  it('an unknown host gets 421, never another service', () => {
    assert.equal(serviceFor(routes, 'evil.test', '/'), '421');
    assert.equal(serviceFor(routes, null, '/'), '421');
  });

  it('a known host with no service at the path gets 404', () => {
    assert.equal(serviceFor([route('api', ['api.example.com'], '/v1')], 'api.example.com', '/v2'), '404');
  });

  it('a service naming no host takes the requests no host claims', () => {
    const r = [route('api', ['api.example.com']), route('rest', [], '/')];
    assert.equal(serviceFor(r, 'elsewhere.test', '/a'), 'rest /a');
    assert.equal(serviceFor(r, 'api.example.com', '/a'), 'api /a');
  });

  it('an absolute-form target is matched on its path', () => {
    assert.equal(serviceFor(routes, 'app.example.com', 'http://app.example.com/admin/x'), 'admin /x');
  });

  it('a single plain service takes everything, target untouched', () => {
    const t = buildEdgeTable([route('web', [])]);
    assert.equal(t.only?.service, 'web');
    assert.equal(serviceFor([route('web', [])], null, '*'), 'web *');
  });

  it('host patterns cover names for certificates the same way', () => {
    assert.equal(hostCovers('*.example.com', 'a.example.com'), true);
    assert.equal(hostCovers('*.example.com', 'example.com'), false);
    assert.equal(hostCovers('*.example.com', 'a.b.example.com'), false);
    assert.equal(hostCovers('App.example.com', 'app.EXAMPLE.com'), true);
  });

  it('prefixes are normalised', () => {
    assert.equal(normalisePrefix('/api/'), '/api');
    assert.equal(normalisePrefix(''), '/');
    assert.equal(normalisePrefix('api'), '/api');
  });
});
