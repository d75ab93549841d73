// The kubernetes provider against a recorded Kubernetes API (no API server runs here): the exact
// calls, bodies and content types it sends to run a slot as a Deployment, wait for its rollout, find
// its pods and stop it, and what it does when the cluster says no.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { KubernetesProvider } from '../src/config/types.ts';
import { KubeClient, fromKubeconfig } from '../src/kubernetes/client.ts';
import { isProviderError } from '../src/providers/errors.ts';
import { KubernetesProviderImpl } from '../src/providers/kubernetes.ts';
import { type Exchange, startRecordedApi, status } from './kubernetes-api.ts';

const DEPLOY = '/apis/apps/v1/namespaces/shop/deployments/web-green';
const APPLY = `${DEPLOY}?fieldManager=cutover&force=true`;
const PODS = '/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb%2Cversion%3Dgreen';

const config: KubernetesProvider = {
  kind: 'kubernetes',
  namespace: 'shop',
  image: 'registry.example/web:{version}',
  port: 8080,
  replicas: 2,
  env: { GREETING: 'hello {version}' },
  rolloutTimeout: 5000,
};

/** The Deployment of green running 1.1.0, exactly as server-side apply must receive it. */
const manifest = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'web-green',
    namespace: 'shop',
    labels: { app: 'web', version: 'green', 'app.kubernetes.io/managed-by': 'cutover' },
    annotations: { 'cutover/version': '1.1.0' },
  },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web', version: 'green' } },
    template: {
      metadata: { labels: { app: 'web', version: 'green' }, annotations: { 'cutover/version': '1.1.0' } },
      spec: {
        containers: [
          {
            name: 'web',
            image: 'registry.example/web:1.1.0',
            ports: [{ name: 'http', containerPort: 8080 }],
            env: [
              { name: 'GREETING', value: 'hello 1.1.0' },
              { name: 'PORT', value: '8080' },
              { name: 'CUTOVER_SLOT', value: 'green' },
              { name: 'CUTOVER_VERSION', value: '1.1.0' },
              { name: 'CUTOVER_SERVICE', value: 'web' },
            ],
            readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1 },
          },
        ],
      },
    },
  },
};

/** A Deployment as GET returns it: generation 2, with the rollout status given. */
const deployment = (st: Record<string, unknown>) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web-green', namespace: 'shop', generation: 2, annotations: { 'cutover/version': '1.1.0' } },
  spec: { replicas: 2 },
  status: { observedGeneration: 2, ...st },
});

const pod = (name: string, ip: string, ready: boolean, extra: Record<string, unknown> = {}) => ({
  metadata: { name, annotations: { 'cutover/version': '1.1.0' }, ...extra },
  status: { podIP: ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }], containerStatuses: [{ restartCount: 1 }] },
});

const scaleDown: Exchange = {
  method: 'PATCH',
  path: `${DEPLOY}?fieldManager=cutover`,
  contentType: 'application/merge-patch+json',
  body: { spec: { replicas: 0 } },
  status: 200,
  response: deployment({ replicas: 0 }),
};

const servers: { close(): Promise<void> }[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function providerAgainst(exchanges: Exchange[]) {
  const api = await startRecordedApi(exchanges);
  servers.push(api);
  const provider = new KubernetesProviderImpl({
    service: 'web',
    config,
    client: new KubeClient({ server: api.url, token: 'sa-token' }),
    slotLabel: 'version',
    health: { path: '/healthz', interval: 1000 },
    pollInterval: 5,
  });
  return { api, provider };
}

test('a slot is applied as a Deployment, waited for until rolled out, and its ready pods become its targets, against a recorded Kubernetes API (no API server runs here)', async () => {
  const { api, provider } = await providerAgainst([
    { method: 'PATCH', path: APPLY, contentType: 'application/apply-patch+yaml', body: manifest, status: 200, response: deployment({}) },
    {
      method: 'GET',
      path: DEPLOY,
      status: 200,
      response: deployment({ replicas: 3, updatedReplicas: 1, readyReplicas: 2, availableReplicas: 2 }),
    },
    {
      method: 'GET',
      path: DEPLOY,
      status: 200,
      response: deployment({ replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 }),
    },
    {
      method: 'GET',
      path: PODS,
      status: 200,
      response: {
        kind: 'PodList',
        apiVersion: 'v1',
        items: [
          pod('web-green-7d4-a', '10.1.0.7', true),
          pod('web-green-7d4-b', '10.1.0.8', true),
          pod('web-green-5c1-z', '10.1.0.3', true, { deletionTimestamp: '2026-12-01T09:00:00Z' }),
        ],
      },
    },
  ]);
  const d = await provider.provision('green', '1.1.0');
  assert.deepEqual(d, { slot: 'green', version: '1.1.0', targets: ['10.1.0.7:8080', '10.1.0.8:8080'] });
  assert.deepEqual(
    provider.replicas('green').map((r) => [r.target, r.restarts]),
    [
      ['10.1.0.7:8080', 1],
      ['10.1.0.8:8080', 1],
    ],
  );
  api.assertDone();
  assert.ok(
    api.received.every((r) => r.authorization === 'Bearer sa-token'),
    'every call carries the token',
  );
  // Parity reads what was applied and the pods seen, and asks the cluster nothing more.
  const spec = await provider.slotSpec('green');
  assert.equal(spec?.view.detail, '2 ready pod(s) when provisioned');
  assert.ok(spec?.command?.[0]?.includes('{version}'), JSON.stringify(spec));
  assert.equal(await provider.slotSpec('blue'), null, 'a slot never provisioned runs nothing');
  api.assertDone();
});

test('stopping a slot scales its Deployment to 0 with a merge patch, against a recorded Kubernetes API (no API server runs here)', async () => {
  const { api, provider } = await providerAgainst([scaleDown]);
  await provider.stop('green');
  api.assertDone();
});

test('a rollout past its progress deadline fails provisioning with the reason and scales the slot back to 0, against a recorded Kubernetes API (no API server runs here)', async () => {
  const stuck = {
    replicas: 2,
    updatedReplicas: 1,
    readyReplicas: 1,
    availableReplicas: 1,
    conditions: [
      {
        type: 'Progressing',
        status: 'False',
        reason: 'ProgressDeadlineExceeded',
        message: 'ReplicaSet "web-green-7d4" has timed out progressing.',
      },
    ],
  };
  const { api, provider } = await providerAgainst([
    { method: 'PATCH', path: APPLY, contentType: 'application/apply-patch+yaml', body: manifest, status: 200, response: deployment({}) },
    { method: 'GET', path: DEPLOY, status: 200, response: deployment(stuck) },
    scaleDown,
  ]);
  await assert.rejects(provider.provision('green', '1.1.0'), (err) => {
    assert.ok(isProviderError(err, 'CUTOVER_E_PROVISION_FAILED'), String(err));
    assert.match(err.message, /web-green \(1\.1\.0\) did not progress: ReplicaSet "web-green-7d4" has timed out progressing/);
    return true;
  });
  assert.equal(provider.deployment('green'), null);
  api.assertDone();
});

test('an apply the cluster forbids fails provisioning naming the RBAC to grant, against a recorded Kubernetes API (no API server runs here)', async () => {
  const forbidden = status(
    403,
    'Forbidden',
    'deployments.apps "web-green" is forbidden: User "system:serviceaccount:shop:cutover" cannot patch resource "deployments" in API group "apps" in the namespace "shop"',
  );
  const { api, provider } = await providerAgainst([
    { method: 'PATCH', path: APPLY, contentType: 'application/apply-patch+yaml', body: manifest, status: 403, response: forbidden },
  ]);
  await assert.rejects(provider.provision('green', '1.1.0'), (err) => {
    assert.ok(isProviderError(err, 'CUTOVER_E_PROVISION_FAILED'), String(err));
    assert.match(err.message, /cannot patch resource "deployments".*deploy\/kubernetes\/rbac\.yaml/);
    return true;
  });
  api.assertDone();
});

test('a kubeconfig context gives the server and the user token; exec plugins are refused with what to use instead', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-kubeconfig-'));
  try {
    const file = join(dir, 'config');
    const text = `apiVersion: v1
kind: Config
current-context: dev
contexts:
  - { name: dev, context: { cluster: c1, user: u1, namespace: shop } }
  - { name: sso, context: { cluster: c1, user: u2 } }
clusters:
  - { name: c1, cluster: { server: "https://10.0.0.1:6443/", certificate-authority-data: ${Buffer.from('CA').toString('base64')} } }
users:
  - { name: u1, user: { token: abc } }
  - { name: u2, user: { exec: { command: aws } } }
`;
    writeFileSync(file, text);
    assert.deepEqual(fromKubeconfig(text, file), {
      server: 'https://10.0.0.1:6443',
      ca: Buffer.from('CA'),
      token: 'abc',
      namespace: 'shop',
    });
    assert.throws(() => fromKubeconfig(text, file, 'sso'), /exec or auth-provider plugin.*give it a token or a client certificate/);
    assert.throws(() => fromKubeconfig(text, file, 'prod'), /no context named prod/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
