import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { parseConfig } from './load.ts';
import { TRAFFIC_AVAILABLE } from './traffic-schema.ts';

const FILE = '/srv/app/cutover.yaml';
const web = (traffic: string) => `services:
  web:
    listen: 127.0.0.1:8080
    provider: { kind: static, blue: [10.0.0.1:80], green: [10.0.0.2:80] } # own IPs per slot, as dns needs
    traffic: ${traffic}
`;

function problems(text: string): { path: string; message: string }[] {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  return [];
}

test('a service without traffic is driven by the embedded router', () => {
  const config = parseConfig(web('{ kind: router }').replace(/\n {4}traffic:.*\n/, '\n'), FILE);
  assert.deepEqual(config.services.web?.traffic, { kind: 'router' });
});

const examples: Record<string, string> = {
  haproxy: '{ kind: haproxy, socket: run/admin.sock, backend: web }',
  nginx: '{ kind: nginx, upstreamFile: /etc/nginx/conf.d/web-upstream.conf, upstream: web, reload: [nginx, -s, reload] }',
  caddy: '{ kind: caddy, admin: http://127.0.0.1:2019, route: web }',
  dns: '{ kind: dns, server: http://127.0.0.1:8081, api: powerdns, zone: example.test., record: web.example.test., ttl: 5 }',
  'kubernetes-service': '{ kind: kubernetes-service, service: my-app, namespace: default, selectorKey: version }',
};

for (const [kind, text] of Object.entries(examples)) {
  if (TRAFFIC_AVAILABLE.has(kind as never)) continue;
  test(`traffic kind ${kind}, written as the docs show, is refused by validate while its adapter is not available`, () => {
    const found = problems(web(text));
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0]?.path, 'services.web.traffic.kind');
    assert.match(found[0]?.message ?? '', new RegExp(`traffic kind ${kind} is not available.*use kind: router`));
  });
}

test('an unknown traffic kind is refused naming the kinds there are', () => {
  const found = problems(web('{ kind: envoy }'));
  assert.equal(found[0]?.path, 'services.web.traffic.kind');
  assert.match(found[0]?.message ?? '', /haproxy/);
});

test('the haproxy, nginx and caddy sections read as written, with defaults and paths resolved against the config file', () => {
  const h = parseConfig(web(examples.haproxy as string), FILE).services.web?.traffic;
  assert.deepEqual(h, { kind: 'haproxy', socket: '/srv/app/run/admin.sock', backend: 'web' });
  const tcp = parseConfig(web('{ kind: haproxy, socket: 127.0.0.1:9999, backend: web }'), FILE).services.web?.traffic;
  assert.deepEqual(tcp, { kind: 'haproxy', socket: '127.0.0.1:9999', backend: 'web' });
  const n = parseConfig(web('{ kind: nginx, upstreamFile: conf.d/web.conf, upstream: web }'), FILE).services.web?.traffic;
  assert.deepEqual(n, {
    kind: 'nginx',
    upstreamFile: '/srv/app/conf.d/web.conf',
    upstream: 'web',
    reload: ['nginx', '-s', 'reload'],
    check: ['nginx', '-t'],
  });
  const c = parseConfig(web('{ kind: caddy, route: web }'), FILE).services.web?.traffic;
  assert.deepEqual(c, { kind: 'caddy', admin: 'http://127.0.0.1:2019', route: 'web' });
});

test('a haproxy section without its backend is refused naming the key', () => {
  const found = problems(web('{ kind: haproxy, socket: /run/haproxy/admin.sock }'));
  assert.equal(found[0]?.path, 'services.web.traffic.backend');
});

test('with an external balancer listen may be left out: the embedded router takes a free loopback port', () => {
  const text = web('{ kind: haproxy, socket: /run/haproxy/admin.sock, backend: web }').replace('    listen: 127.0.0.1:8080\n', '');
  assert.equal(parseConfig(text, FILE).services.web?.listen, '127.0.0.1:0');
});

test('with the embedded router, or with several workers, listen is still required and the reason is named', () => {
  const noListen = web('{ kind: router }').replace('    listen: 127.0.0.1:8080\n', '');
  assert.match(problems(noListen).find((p) => p.path === 'services.web.listen')?.message ?? '', /external balancer/);
  const workers = `${web('{ kind: haproxy, socket: /run/haproxy/admin.sock, backend: web }').replace('    listen: 127.0.0.1:8080\n', '')}    workers: 2\n`;
  assert.match(problems(workers).find((p) => p.path === 'services.web.workers')?.message ?? '', /write listen/);
});
