// `cutover up` with the kubernetes provider and the kubernetes-service adapter, against a stand-in of
// the Kubernetes API (no API server runs here) that keeps the Deployments' versions and the Service's
// selector: the writes cutover makes through a release and a rollback, exactly and in order, while
// reads (rollout status, reconcile, status polling) come as they come. 127.0.0.2 and 127.0.0.3 stand
// for the pod IPs, so gates and health checks reach real servers.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort, startDaemon, waitFor } from './helpers.ts';
import { slotDeployment, startApiStandIn } from './kubernetes-api.ts';

function pod(ip: string, port: number, slot: string): Promise<http.Server> {
  const server = http.createServer((req, res) => res.end(req.url === '/healthz' ? 'ok' : slot));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => resolve(server));
  });
}

test('a release moves the Service selector to the new slot and a rollback moves it back, with exactly these writes in this order, against a Kubernetes API stand-in (no API server runs here)', async () => {
  const port = await freePort();
  const pods = [await pod('127.0.0.2', port, 'blue'), await pod('127.0.0.3', port, 'green')];
  const api = await startApiStandIn({ selector: { app: 'web' }, podIPs: { blue: '127.0.0.2', green: '127.0.0.3' } });
  const dir = mkdtempSync(join(tmpdir(), 'cutover-kube-svc-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\ncurrent-context: t\ncontexts: [{ name: t, context: { cluster: c, user: u } }]\nclusters: [{ name: c, cluster: { server: "${api.url}" } }]\nusers: [{ name: u, user: { token: kube-token } }]\n`,
  );
  const d = await startDaemon([], [], {
    services: {
      web: {
        drain: '200ms',
        provider: { kind: 'kubernetes', namespace: 'shop', image: 'registry.example/web:{version}', port, kubeconfig },
        traffic: { kind: 'kubernetes-service', service: 'web', namespace: 'shop', selectorKey: 'slot', kubeconfig },
        health: { path: '/healthz', interval: '100ms' },
        analysis: { interval: '200ms', window: '400ms', inconclusive: 'pass' },
      },
    },
  });
  const deploy = async (version: string) => {
    const r = await d.api('POST', '/api/v1/services/web/releases', { version });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    await waitFor(`${version} live`, async () => {
      const phase = (await d.api('GET', `/api/v1/services/web/releases/${r.json.id}`)).json.phase;
      if (phase === 'failed' || phase === 'rolled-back' || phase === 'aborted') throw new Error(`${version} ended ${phase}: ${d.output()}`);
      return phase === 'promoted' || phase === 'retired';
    });
  };
  try {
    await deploy('1.0.0');
    assert.equal(api.selector().slot, 'blue');
    await deploy('1.1.0');
    assert.equal(api.selector().slot, 'green');
    const rb = await d.api('POST', '/api/v1/services/web/rollback', { reason: 'test' });
    assert.ok(rb.status < 300, JSON.stringify(rb.json));
    await waitFor('the selector back on blue', () => api.selector().slot === 'blue', 5000);
    const apply = (slot: 'blue' | 'green', version: string) => ({
      method: 'PATCH',
      path: `/apis/apps/v1/namespaces/shop/deployments/web-${slot}?fieldManager=cutover&force=true`,
      contentType: 'application/apply-patch+yaml',
      body: slotDeployment({
        app: 'web',
        namespace: 'shop',
        slot,
        version,
        slotLabel: 'slot',
        image: `registry.example/web:${version}`,
        port,
        replicas: 1,
        health: { path: '/healthz', periodSeconds: 1 },
      }),
    });
    const select = (slot: string) => ({
      method: 'PATCH',
      path: '/api/v1/namespaces/shop/services/web?fieldManager=cutover',
      contentType: 'application/merge-patch+json',
      body: { spec: { selector: { slot } } },
    });
    assert.deepEqual(
      api.writes().map(({ method, path, contentType, body }) => ({ method, path, contentType, body })),
      [apply('blue', '1.0.0'), select('blue'), apply('green', '1.1.0'), select('green'), select('blue')],
    );
    assert.ok(api.seen.every((r) => r.authorization === 'Bearer kube-token'));
    const st = (await d.api('GET', '/api/v1/services/web')).json;
    assert.equal(st.traffic.kind, 'kubernetes-service');
  } finally {
    await d.stop();
    await api.close();
    for (const p of pods) await new Promise((r) => p.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});
