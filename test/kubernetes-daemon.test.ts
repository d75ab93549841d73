// `cutover up` with the kubernetes provider against a recorded Kubernetes API (no API server runs
// here): two releases and a rollback, with the pods' addresses served on this machine's loopback
// (127.0.0.2 and 127.0.0.3 stand for the pod IPs) so the embedded router reaches them for real.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort, startDaemon, waitFor } from './helpers.ts';
import { type Exchange, readyPods, rolledOut, slotDeployment, startRecordedApi } from './kubernetes-api.ts';

const NS = 'shop';
const DEPLOYMENTS = `/apis/apps/v1/namespaces/${NS}/deployments`;

function pod(ip: string, port: number, slot: string): Promise<http.Server> {
  const server = http.createServer((req, res) => res.end(req.url === '/healthz' ? 'ok' : slot));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => resolve(server));
  });
}

const release = (slot: 'blue' | 'green', version: string, ip: string, port: number): Exchange[] => [
  {
    method: 'PATCH',
    path: `${DEPLOYMENTS}/web-${slot}?fieldManager=cutover&force=true`,
    contentType: 'application/apply-patch+yaml',
    body: slotDeployment({
      app: 'web',
      namespace: NS,
      slot,
      version,
      slotLabel: 'slot',
      image: `registry.example/web:${version}`,
      port,
      replicas: 1,
      health: { path: '/healthz', periodSeconds: 1 },
    }),
    status: 200,
    response: rolledOut(`web-${slot}`, NS, version, 1),
  },
  { method: 'GET', path: `${DEPLOYMENTS}/web-${slot}`, status: 200, response: rolledOut(`web-${slot}`, NS, version, 1) },
  {
    method: 'GET',
    path: `/api/v1/namespaces/${NS}/pods?labelSelector=app%3Dweb%2Cslot%3D${slot}`,
    status: 200,
    response: readyPods(version, [ip]),
  },
];

test('cutover up runs each slot as a Deployment: a release switches users to the new pods and a rollback back, against a recorded Kubernetes API (no API server runs here)', async () => {
  const port = await freePort();
  const pods = [await pod('127.0.0.2', port, 'blue'), await pod('127.0.0.3', port, 'green')];
  const api = await startRecordedApi([...release('blue', '1.0.0', '127.0.0.2', port), ...release('green', '1.1.0', '127.0.0.3', port)]);
  const dir = mkdtempSync(join(tmpdir(), 'cutover-kube-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
current-context: test
contexts: [{ name: test, context: { cluster: recorded, user: cutover } }]
clusters: [{ name: recorded, cluster: { server: "${api.url}" } }]
users: [{ name: cutover, user: { token: kube-token } }]
`,
  );
  const d = await startDaemon([], [], {
    services: {
      web: {
        listen: `127.0.0.1:${await freePort()}`,
        drain: '200ms',
        provider: { kind: 'kubernetes', namespace: NS, image: 'registry.example/web:{version}', port, kubeconfig },
        health: { path: '/healthz', interval: '100ms' },
        analysis: { interval: '200ms', window: '400ms', inconclusive: 'pass' },
      },
    },
  });
  const listen = (await d.api('GET', '/api/v1/services/web')).json.listen as string;
  const served = async () => (await fetch(`http://${listen}/`)).text();
  const deploy = async (version: string) => {
    const r = await d.api('POST', '/api/v1/services/web/releases', { version });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    await waitFor(`${version} live`, async () => {
      const phase = (await d.api('GET', `/api/v1/services/web/releases/${r.json.id}`)).json.phase;
      if (phase === 'failed' || phase === 'rolled-back' || phase === 'aborted') throw new Error(`${version} ended ${phase}: ${d.output()}`);
      // A first release has nothing on standby: it is retired as soon as it is promoted.
      return phase === 'promoted' || phase === 'retired';
    });
  };
  try {
    await deploy('1.0.0');
    assert.equal(await served(), 'blue');
    await deploy('1.1.0');
    assert.equal(await served(), 'green');
    const st = (await d.api('GET', '/api/v1/services/web')).json;
    assert.deepEqual(
      st.slots.green.targets.map((t: { address: string }) => t.address),
      [`127.0.0.3:${port}`],
    );
    const rb = await d.api('POST', '/api/v1/services/web/rollback', {});
    assert.ok(rb.status < 300, JSON.stringify(rb.json));
    await waitFor('blue served again', async () => (await served()) === 'blue');
    api.assertDone();
    assert.ok(api.received.every((r) => r.authorization === 'Bearer kube-token'));
  } finally {
    await d.stop();
    await api.close();
    for (const p of pods) await new Promise((r) => p.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});
