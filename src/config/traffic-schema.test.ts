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
