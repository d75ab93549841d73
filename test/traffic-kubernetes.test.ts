// The kubernetes-service adapter against a recorded Kubernetes API (no API server runs here): the
// exact merge patches of a Service's selector and an HTTPRoute's weights, their order, what is read
// back, and a refused or unreachable API failing the switch with a coded reason.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { KubernetesServiceTraffic } from '../src/config/types.ts';
import { isCutoverError } from '../src/errors.ts';
import { KubeClient } from '../src/kubernetes/client.ts';
import { KubernetesServiceAdapter } from '../src/traffic/kubernetes-service.ts';
import type { TrafficState } from '../src/traffic/types.ts';
import { freePort } from './helpers.ts';
import { type Exchange, startRecordedApi, status } from './kubernetes-api.ts';

const SERVICE = '/api/v1/namespaces/default/services/my-app';
const ROUTE = '/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/my-app';
const SLICES = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D';
const MERGE = 'application/merge-patch+json';

const config: KubernetesServiceTraffic = { kind: 'kubernetes-service', service: 'my-app', namespace: 'default', selectorKey: 'version' };

const state = (live: 'blue' | 'green', weights = { blue: live === 'blue' ? 100 : 0, green: live === 'green' ? 100 : 0 }): TrafficState => ({
  generation: 7,
  live,
  weights,
  slots: { blue: { version: '1.0.0', targets: ['10.1.0.2:8080'] }, green: { version: '1.1.0', targets: ['10.1.0.7:8080'] } },
});

const service = (slot: string) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'my-app', namespace: 'default', resourceVersion: '4711' },
  spec: { selector: { app: 'my-app', version: slot }, ports: [{ port: 80, targetPort: 8080 }] },
});

const selectorPatch = (slot: string): Exchange => ({
  method: 'PATCH',
  path: `${SERVICE}?fieldManager=cutover`,
  contentType: MERGE,
  body: { spec: { selector: { version: slot } } },
  status: 200,
  response: service(slot),
});

const slices = (name: string, ips: string[]): Exchange => ({
  method: 'GET',
  path: `${SLICES}${name}`,
  status: 200,
  response: {
    kind: 'EndpointSliceList',
    apiVersion: 'discovery.k8s.io/v1',
    items: [
      {
        addressType: 'IPv4',
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        endpoints: [
          ...ips.map((ip) => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false } })),
          { addresses: ['10.1.0.99'], conditions: { ready: false, serving: true, terminating: true } },
        ],
      },
    ],
  },
});

const servers: { close(): Promise<void> }[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function against(exchanges: Exchange[], over: Partial<KubernetesServiceTraffic> = {}) {
  const api = await startRecordedApi(exchanges);
  servers.push(api);
  return { api, adapter: new KubernetesServiceAdapter({ ...config, ...over }, new KubeClient({ server: api.url, token: 't' })) };
}

async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err) => {
    assert.ok(isCutoverError(err), String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

test('a switch and a rollback patch only the selector key of the Service, an unchanged live slot writes nothing, and status reads the endpoints back, against a recorded Kubernetes API (no API server runs here)', async () => {
  const get = (slot: string): Exchange => ({ method: 'GET', path: SERVICE, status: 200, response: service(slot) });
  const { api, adapter } = await against([
    get('blue'),
    selectorPatch('green'),
    // The same live slot again (a preview opened, say): read, nothing written.
    get('green'),
    get('green'),
    slices('my-app', ['10.1.0.7']),
    get('green'),
    selectorPatch('blue'),
  ]);
  assert.deepEqual(adapter.capabilities, { lossless: true, weighted: false, eventual: true });
  await adapter.apply(state('green'));
  await adapter.apply(state('green'));
  const seen = await adapter.observe();
  assert.deepEqual(seen.weights, { blue: 0, green: 100 });
  assert.deepEqual(seen.targets, { blue: [], green: ['10.1.0.7:8080'] });
  assert.match(seen.detail, /Service default\/my-app selects version=green: 1 ready endpoint$/);
  await adapter.apply(state('blue'));
  api.assertDone();
});

test('a shift step of 10% writes the HTTPRoute weights (rules kept, resourceVersion sent), then the selector, against a recorded Kubernetes API (no API server runs here)', async () => {
  const matches = [{ path: { type: 'PathPrefix', value: '/' } }];
  const route = (blue: number, green: number) => ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'my-app', namespace: 'default', resourceVersion: '912' },
    spec: {
      parentRefs: [{ name: 'gateway' }],
      rules: [
        {
          matches,
          backendRefs: [
            { name: 'my-app-blue', port: 80, weight: blue },
            { name: 'my-app-green', port: 80, weight: green },
          ],
        },
      ],
    },
  });
  const { api, adapter } = await against(
    [
      { method: 'GET', path: ROUTE, status: 200, response: route(100, 0) },
      {
        method: 'PATCH',
        path: `${ROUTE}?fieldManager=cutover`,
        contentType: MERGE,
        body: {
          metadata: { resourceVersion: '912' },
          spec: {
            rules: [
              {
                matches,
                backendRefs: [
                  { name: 'my-app-blue', port: 80, weight: 90 },
                  { name: 'my-app-green', port: 80, weight: 10 },
                ],
              },
            ],
          },
        },
        status: 200,
        response: route(90, 10),
      },
      // During the steps the old slot is still the live one: the Service keeps selecting it.
      { method: 'GET', path: SERVICE, status: 200, response: service('blue') },
    ],
    { httpRoute: 'my-app' },
  );
  assert.equal(adapter.capabilities.weighted, true);
  await adapter.apply(state('blue', { blue: 90, green: 10 }));
  api.assertDone();
});

test('a selector patch the cluster forbids fails the switch as refused, naming the RBAC, against a recorded Kubernetes API (no API server runs here)', async () => {
  const forbidden = status(
    403,
    'Forbidden',
    'services "my-app" is forbidden: User "system:serviceaccount:default:cutover" cannot patch resource "services" in API group "" in the namespace "default"',
  );
  const { api, adapter } = await against([
    { method: 'GET', path: SERVICE, status: 200, response: service('blue') },
    { ...selectorPatch('green'), status: 403, response: forbidden },
  ]);
  await rejectsWith(
    adapter.apply(state('green')),
    'CUTOVER_E_TRAFFIC_REFUSED',
    /cannot patch resource "services".*deploy\/kubernetes\/rbac\.yaml/,
  );
  api.assertDone();
});

test('a weighted shift without an HTTPRoute is refused before any call: a selector picks one slot', async () => {
  const { api, adapter } = await against([]);
  await rejectsWith(adapter.apply(state('green', { blue: 50, green: 50 })), 'CUTOVER_E_TRAFFIC_REFUSED', /set traffic\.httpRoute/);
  api.assertDone();
});

test('an API server nobody listens on fails the switch as unreachable', async () => {
  const adapter = new KubernetesServiceAdapter(config, new KubeClient({ server: `http://127.0.0.1:${await freePort()}` }));
  await rejectsWith(adapter.apply(state('green')), 'CUTOVER_E_TRAFFIC_UNREACHABLE', /cannot reach the Kubernetes API/);
});
