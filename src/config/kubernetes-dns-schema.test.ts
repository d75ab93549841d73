// The kubernetes provider and the dns and kubernetes-service traffic members as written in the README.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { parseConfig } from './load.ts';

const FILE = '/srv/app/cutover.yaml';
const web = (provider: string, traffic?: string) => `services:
  web:
    listen: 127.0.0.1:8080
    provider: ${provider}
${traffic ? `    traffic: ${traffic}\n` : ''}`;

function problems(text: string): { path: string; message: string }[] {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  return [];
}

test('a kubernetes provider validates with its defaults, its kubeconfig beside the file', () => {
  const config = parseConfig(
    web('{ kind: kubernetes, namespace: shop, image: "registry.example/web:{version}", port: 8080, kubeconfig: kube/config }'),
    FILE,
  );
  assert.deepEqual(config.services.web?.provider, {
    kind: 'kubernetes',
    namespace: 'shop',
    image: 'registry.example/web:{version}',
    port: 8080,
    replicas: 1,
    env: {},
    rolloutTimeout: 300_000,
    kubeconfig: '/srv/app/kube/config',
  });
});

test('a kubernetes image without {version} is refused: every release would run the same image', () => {
  const found = problems(web('{ kind: kubernetes, image: registry.example/web:latest, port: 8080 }'));
  assert.deepEqual(
    found.map((p) => p.path),
    ['services.web.provider.image'],
  );
  assert.match(found[0]?.message ?? '', /must contain \{version\}/);
});

test('an RFC 2136 dns section without its TSIG key is refused naming tsig', () => {
  const found = problems(
    web(
      '{ kind: static, blue: [10.0.0.1:80] }',
      '{ kind: dns, api: rfc2136, server: 127.0.0.1:53, zone: example.test., record: web.example.test. }',
    ),
  );
  assert.ok(
    found.some((p) => p.path === 'services.web.traffic.tsig'),
    JSON.stringify(found),
  );
});

test('a dns secret written in the file instead of an environment variable name is refused', () => {
  const found = problems(
    web(
      '{ kind: static, blue: [10.0.0.1:80] }',
      '{ kind: dns, api: powerdns, server: http://127.0.0.1:8081, apiKeyEnv: "s3cr3t!", zone: example.test., record: web.example.test. }',
    ),
  );
  const p = found.find((x) => x.path === 'services.web.traffic.apiKeyEnv');
  assert.match(p?.message ?? '', /names an environment variable that holds the secret/);
});

test('a dns api other than powerdns or rfc2136 is refused naming both', () => {
  const found = problems(
    web('{ kind: static, blue: [10.0.0.1:80] }', '{ kind: dns, api: route53, server: x, zone: example.test., record: web.example.test. }'),
  );
  const p = found.find((x) => x.path === 'services.web.traffic.api');
  assert.match(p?.message ?? '', /powerdns .* or rfc2136/);
});

const DNS = '{ kind: dns, api: rfc2136, server: 127.0.0.1:53, zone: example.test., record: web.example.test., tsig: { name: cutover. } }';
const messages = (text: string) => problems(text).map((p) => `${p.path}: ${p.message}`);

test('dns with the process provider is refused: both slots would be 127.0.0.1', () => {
  assert.ok(
    messages(web('{ command: node app.js }', DNS)).some((m) => /^services\.web\.traffic\.kind: .*runs both slots on 127\.0\.0\.1/.test(m)),
  );
});

test('dns with static slots that share an IP, or are named by host name, is refused', () => {
  const shared = messages(web('{ kind: static, blue: [10.0.0.1:80], green: [10.0.0.1:81] }', DNS));
  assert.ok(
    shared.some((m) => /^services\.web\.provider: .*blue and green share 10\.0\.0\.1/.test(m)),
    shared.join('\n'),
  );
  const named = messages(web('{ kind: static, blue: [blue.internal:80], green: [10.0.0.2:80] }', DNS));
  assert.ok(
    named.some((m) => /blue\.internal is a host name/.test(m)),
    named.join('\n'),
  );
});

test('dns with static slots on their own IPs has no problem of its own', () => {
  const found = messages(web('{ kind: static, blue: [10.0.0.1:80], green: [10.0.0.2:80] }', DNS));
  assert.deepEqual(
    found.filter((m) => !/is not available in this version/.test(m)),
    [],
  );
});

test('shift steps are refused with dns, and with a Service selector unless an HTTPRoute carries the weights', () => {
  const steps = (traffic: string) =>
    `${web('{ kind: static, blue: [10.0.0.1:80], green: [10.0.0.2:80] }', traffic)}    shift: { steps: [10, 100] }\n`;
  assert.ok(messages(steps(DNS)).some((m) => /^services\.web\.shift: traffic kind dns cannot split traffic by weights/.test(m)));
  const k8s = '{ kind: kubernetes-service, service: web }';
  assert.ok(messages(steps(k8s)).some((m) => /^services\.web\.shift: .*set traffic\.httpRoute/.test(m)));
  assert.ok(!messages(steps('{ kind: kubernetes-service, service: web, httpRoute: web }')).some((m) => m.startsWith('services.web.shift')));
});
