// previewReplicas with the kubernetes provider, against a recorded Kubernetes API (no API server can
// run here): the slot's Deployment is applied with previewReplicas, and scaled up to replicas by a
// merge PATCH of spec.replicas, then waited for until every pod is ready, before the switch.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { KubernetesProvider } from '../src/config/types.ts';
import { KubeClient } from '../src/kubernetes/client.ts';
import { KubernetesProviderImpl } from '../src/providers/kubernetes.ts';
import { startRecordedApi } from './kubernetes-api.ts';

const DEPLOY = '/apis/apps/v1/namespaces/shop/deployments/web-green';
const PODS = '/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb%2Cversion%3Dgreen';

const config: KubernetesProvider = {
  kind: 'kubernetes',
  namespace: 'shop',
  image: 'registry.example/web:{version}',
  port: 8080,
  replicas: 3,
  previewReplicas: 1,
  env: {},
  rolloutTimeout: 5000,
};

const deployment = (replicas: number, ready: number) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web-green', namespace: 'shop', generation: 2, annotations: { 'cutover/version': '1.1.0' } },
  spec: { replicas },
  status: { observedGeneration: 2, replicas, updatedReplicas: replicas, readyReplicas: ready, availableReplicas: ready },
});
const pods = (ips: string[]) => ({
  kind: 'PodList',
  apiVersion: 'v1',
  items: ips.map((ip, i) => ({
    metadata: { name: `web-green-7d4-${i}`, annotations: { 'cutover/version': '1.1.0' } },
    status: { podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
  })),
});

const servers: { close(): Promise<void> }[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

test('a previewed slot is applied with previewReplicas, then scaled up by a merge PATCH of spec.replicas and waited for until all are ready, against a recorded Kubernetes API (no API server runs here)', async () => {
  const client = (url: string) => new KubeClient({ server: url, token: 'sa-token' });
  const opts = { service: 'web', config, slotLabel: 'version', health: { path: '/healthz', interval: 1000 }, pollInterval: 5 };
  // The manifest with replicas as configured, to hold the preview's apply against: only spec.replicas differs.
  const full = new KubernetesProviderImpl({ ...opts, client: client('http://127.0.0.1:1') }).manifest('green', '1.1.0') as {
    spec: { replicas: number };
  };
  assert.equal(full.spec.replicas, 3);
  const preview = { ...full, spec: { ...full.spec, replicas: 1 } };
  const api = await startRecordedApi([
    {
      method: 'PATCH',
      path: `${DEPLOY}?fieldManager=cutover&force=true`,
      contentType: 'application/apply-patch+yaml',
      body: preview,
      status: 200,
      response: deployment(1, 0),
    },
    { method: 'GET', path: DEPLOY, status: 200, response: deployment(1, 1) },
    { method: 'GET', path: PODS, status: 200, response: pods(['10.1.0.7']) },
    {
      method: 'PATCH',
      path: `${DEPLOY}?fieldManager=cutover`,
      contentType: 'application/merge-patch+json',
      body: { spec: { replicas: 3 } },
      status: 200,
      response: deployment(3, 1),
    },
    { method: 'GET', path: DEPLOY, status: 200, response: deployment(3, 2) },
    { method: 'GET', path: DEPLOY, status: 200, response: deployment(3, 3) },
    { method: 'GET', path: PODS, status: 200, response: pods(['10.1.0.7', '10.1.0.8', '10.1.0.9']) },
  ]);
  servers.push(api);
  const provider = new KubernetesProviderImpl({ ...opts, client: client(api.url) });

  const d = await provider.provision('green', '1.1.0', { replicas: 1 });
  assert.deepEqual(d.targets, ['10.1.0.7:8080'], 'the gates and preview run against one pod');
  const previewing = await provider.slotSpec('green');
  assert.equal(previewing?.previewReplicas, 1, 'parity knows the slot is previewed on fewer, not drifted');

  const up = await provider.scaleUp('green');
  assert.deepEqual(up.targets, ['10.1.0.7:8080', '10.1.0.8:8080', '10.1.0.9:8080'], 'every pod is a target once all are ready');
  assert.deepEqual(provider.deployment('green')?.targets, up.targets);
  assert.equal((await provider.slotSpec('green'))?.previewReplicas, undefined);
  await provider.scaleUp('green');
  api.assertDone(); // in this order, and a second scale-up asks the cluster nothing
  assert.deepEqual(
    api.received.map((r) => `${r.method} ${r.path.split('?')[0]}`),
    [
      `PATCH ${DEPLOY}`,
      `GET ${DEPLOY}`,
      `GET ${PODS.split('?')[0]}`,
      `PATCH ${DEPLOY}`,
      `GET ${DEPLOY}`,
      `GET ${DEPLOY}`,
      `GET ${PODS.split('?')[0]}`,
    ],
  );
});
