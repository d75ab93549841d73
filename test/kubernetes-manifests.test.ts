// deploy/kubernetes/ holds together: the Role grants exactly the calls cutover makes (seen by an
// API stand-in, no API server runs here), the example cutover.yaml in the ConfigMap validates, and
// the manifests name each other (service account, ConfigMap, labels, selector key) consistently.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { parseConfig } from '../src/config/load.ts';
import type { KubernetesProvider, KubernetesServiceTraffic } from '../src/config/types.ts';
import { ConfigError } from '../src/errors.ts';
import { KubeClient } from '../src/kubernetes/client.ts';
import { KubernetesProviderImpl } from '../src/providers/kubernetes.ts';
import { KubernetesServiceAdapter } from '../src/traffic/kubernetes-service.ts';
import { ROOT } from './helpers.ts';
import { startApiStandIn } from './kubernetes-api.ts';

const DIR = join(ROOT, 'deploy/kubernetes');
const docs = (file: string): any[] => parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((d) => d.toJS());

/** The RBAC rule (group, resource, verb) that authorizes one request, from its method and path. */
function rbacOf(method: string, path: string): string {
  const m = path.match(/^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)\/namespaces\/[^/]+\/([^/?]+)(\/[^/?]+)?/);
  assert.ok(m, `a namespaced call: ${path}`);
  const verb = method === 'GET' ? (m[3] ? 'get' : 'list') : method === 'PATCH' ? 'patch' : method === 'POST' ? 'create' : 'delete';
  return `${m[1] ?? ''}/${m[2]} ${verb}`;
}

test('the Role in deploy/kubernetes grants exactly the calls the provider and the adapter make, seen by an API stand-in (no API server runs here)', async () => {
  const api = await startApiStandIn();
  try {
    const client = new KubeClient({ server: api.url });
    const config: KubernetesProvider = {
      kind: 'kubernetes',
      namespace: 'shop',
      image: 'r/web:{version}',
      port: 8080,
      replicas: 1,
      env: {},
      rolloutTimeout: 1000,
    };
    const provider = new KubernetesProviderImpl({
      service: 'web',
      config,
      client,
      slotLabel: 'slot',
      health: { path: '/', interval: 1000 },
    });
    await provider.provision('green', '2.0.0');
    await provider.stop('blue');
    const traffic: KubernetesServiceTraffic = {
      kind: 'kubernetes-service',
      service: 'web',
      namespace: 'shop',
      selectorKey: 'slot',
      httpRoute: 'web',
    };
    const adapter = new KubernetesServiceAdapter(traffic, client);
    await adapter.apply({
      generation: 2,
      live: 'green',
      weights: { blue: 0, green: 100 },
      slots: { blue: { version: null, targets: [] }, green: { version: '2.0.0', targets: ['10.1.0.9:8080'] } },
    });
    await adapter.observe();
  } finally {
    await api.close();
  }
  const seen = new Set<string>();
  for (const call of api.seen) {
    seen.add(rbacOf(call.method, call.path));
    // Server-side apply that creates the object needs `create` as well as `patch`.
    if (call.path.includes('force=true')) seen.add(rbacOf('POST', call.path));
  }
  const role = docs('rbac.yaml').find((d) => d.kind === 'Role');
  const granted = new Set<string>();
  for (const rule of role.rules)
    for (const g of rule.apiGroups) for (const r of rule.resources) for (const v of rule.verbs) granted.add(`${g}/${r} ${v}`);
  assert.deepEqual([...granted].sort(), [...seen].sort());
});

test('the ConfigMap example validates, and the manifests agree on account, config, labels and selector key', () => {
  const [configMap] = docs('configmap.yaml');
  let problems: { path: string; message: string }[] = [];
  try {
    parseConfig(configMap.data['cutover.yaml'], '/etc/cutover/cutover.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    problems = err.problems;
  }
  assert.deepEqual(problems, []);
  const cfg = (parse(configMap.data['cutover.yaml']) as { services: Record<string, any> }).services.web;
  const rbac = docs('rbac.yaml');
  const sa = rbac.find((d) => d.kind === 'ServiceAccount');
  const deployment = docs('cutover.yaml').find((d) => d.kind === 'Deployment');
  const pod = deployment.spec.template.spec;
  assert.equal(pod.serviceAccountName, sa.metadata.name);
  assert.equal(rbac.find((d) => d.kind === 'RoleBinding').subjects[0].name, sa.metadata.name);
  assert.equal(pod.volumes.find((v: any) => v.name === 'config').configMap.name, configMap.metadata.name);
  assert.deepEqual(deployment.spec.selector.matchLabels, deployment.metadata.labels);
  assert.deepEqual(pod.containers[0].args, ['up', '-c', '/etc/cutover/cutover.yaml']);
  const [service] = docs('service.yaml');
  assert.equal(service.metadata.name, cfg.traffic.service);
  assert.deepEqual(Object.keys(service.spec.selector).sort(), ['app', cfg.traffic.selectorKey].sort());
  assert.equal(service.spec.selector.app, 'web', 'the app label is the service name (provider.name unset)');
  const route = docs('httproute.yaml');
  assert.deepEqual(
    route.find((d) => d.kind === 'HTTPRoute').spec.rules[0].backendRefs.map((b: any) => b.name),
    ['web-blue', 'web-green'],
  );
  for (const d of [...rbac, deployment, service, configMap, ...route]) assert.equal(d.metadata.namespace, 'shop');
});
