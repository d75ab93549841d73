// A recorded Kubernetes API for the tests (no API server can run on these machines): an HTTP server
// on loopback that expects exactly the given exchanges, in order, and answers each with its recorded
// response. The request/response pairs are written from the Kubernetes API reference (apps/v1
// Deployment, core/v1 Service and Pod, discovery.k8s.io/v1 EndpointSlice, gateway.networking.k8s.io/v1
// HTTPRoute, and the Status object of a refusal). Anything else is answered 599 and reported.
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';

export interface Exchange {
  method: string;
  /** Path and query, exactly as sent, like /api/v1/namespaces/default/pods?labelSelector=app%3Dweb */
  path: string;
  contentType?: string;
  /** The JSON body the request must carry, compared deeply. */
  body?: unknown;
  status: number;
  response: unknown;
}

export interface Received {
  method: string;
  path: string;
  contentType: string | undefined;
  authorization: string | undefined;
  body: unknown;
}

export interface RecordedApi {
  url: string;
  received: Received[];
  /** Requests that did not match what was expected next, as sentences. */
  problems: string[];
  /** Asserts every exchange happened, in order, and nothing else. */
  assertDone(): void;
  close(): Promise<void>;
}

/**
 * `background`: reads that may come at any time and any number of times (status polling what the
 * Service does), answered by method and path without taking a turn in the ordered exchanges.
 */
export async function startRecordedApi(exchanges: Exchange[], background: Exchange[] = []): Promise<RecordedApi> {
  const received: Received[] = [];
  const problems: string[] = [];
  let next = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const got: Received = {
        method: req.method ?? '',
        path: req.url ?? '',
        contentType: req.headers['content-type'],
        authorization: req.headers.authorization,
        body: text === '' ? undefined : JSON.parse(text),
      };
      const answer = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const polled = background.find((b) => b.method === got.method && b.path === got.path);
      if (polled) return answer(polled.status, polled.response);
      received.push(got);
      const want = exchanges[next];
      if (!want) {
        problems.push(`unexpected ${got.method} ${got.path} after the last recorded exchange`);
        return answer(599, { kind: 'Status', status: 'Failure', message: 'not recorded', code: 599 });
      }
      const mismatch: string[] = [];
      if (got.method !== want.method || got.path !== want.path) mismatch.push(`expected ${want.method} ${want.path}`);
      if (want.contentType !== undefined && got.contentType !== want.contentType)
        mismatch.push(`expected content-type ${want.contentType}, got ${got.contentType}`);
      if (want.body !== undefined) {
        try {
          assert.deepStrictEqual(got.body, want.body);
        } catch {
          mismatch.push(`expected body ${JSON.stringify(want.body)}, got ${text}`);
        }
      }
      if (mismatch.length > 0) {
        problems.push(`exchange ${next + 1}: ${got.method} ${got.path}: ${mismatch.join('; ')}`);
        return answer(599, { kind: 'Status', status: 'Failure', message: 'not as recorded', code: 599 });
      }
      next++;
      answer(want.status, want.response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    problems,
    assertDone() {
      assert.deepEqual(problems, [], 'every request matched the recorded exchange due');
      assert.equal(next, exchanges.length, `all ${exchanges.length} recorded exchanges happened (${next} did)`);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A Status object as the API server sends with a refusal. */
export function status(code: number, reason: string, message: string): unknown {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

export interface SlotManifest {
  app: string;
  namespace: string;
  slot: 'blue' | 'green';
  version: string;
  slotLabel: string;
  image: string;
  port: number;
  replicas: number;
  env?: { name: string; value: string }[];
  health?: { path: string; periodSeconds: number };
  service?: string;
}

/** The Deployment server-side apply must receive for a slot: what the kubernetes provider sends. */
export function slotDeployment(m: SlotManifest): unknown {
  const labels = { app: m.app, [m.slotLabel]: m.slot };
  const annotations = { 'cutover/version': m.version };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: `${m.app}-${m.slot}`,
      namespace: m.namespace,
      labels: { ...labels, 'app.kubernetes.io/managed-by': 'cutover' },
      annotations,
    },
    spec: {
      replicas: m.replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels, annotations },
        spec: {
          containers: [
            {
              name: m.app,
              image: m.image,
              ports: [{ name: 'http', containerPort: m.port }],
              env: [
                ...(m.env ?? []),
                { name: 'PORT', value: String(m.port) },
                { name: 'CUTOVER_SLOT', value: m.slot },
                { name: 'CUTOVER_VERSION', value: m.version },
                { name: 'CUTOVER_SERVICE', value: m.service ?? m.app },
              ],
              readinessProbe: { httpGet: { path: m.health?.path ?? '/', port: m.port }, periodSeconds: m.health?.periodSeconds ?? 1 },
            },
          ],
        },
      },
    },
  };
}

/** A Deployment as GET returns it once its rollout is complete (generation observed, all replicas ready). */
export function rolledOut(name: string, namespace: string, version: string, replicas: number): unknown {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, generation: 1, annotations: { 'cutover/version': version } },
    spec: { replicas },
    status: { observedGeneration: 1, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas },
  };
}

/** A PodList of ready pods running `version` at the given IPs. */
export function readyPods(version: string, ips: string[]): unknown {
  return {
    kind: 'PodList',
    apiVersion: 'v1',
    items: ips.map((ip, i) => ({
      metadata: { name: `pod-${i}`, annotations: { 'cutover/version': version } },
      status: { podIP: ip, conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ restartCount: 0 }] },
    })),
  };
}

export interface StandIn {
  url: string;
  /** Every call, in order, with its body. */
  seen: Received[];
  /** The writes only (PATCH, POST, DELETE), in order. */
  writes(): Received[];
  /** The Service's selector as last patched. */
  selector(): Record<string, string>;
  close(): Promise<void>;
}

/**
 * A stand-in for the API that keeps the little state cutover's calls touch: each Deployment rolls
 * out at once to the version last applied, its pods are ready at `podIPs[slot]`, and the Service has
 * the selector last patched (`selector` at first). For tests that check the writes in order and let
 * the reads (status polling, reconcile) come as they come, and for the bench.
 */
export async function startApiStandIn(opts: { selector?: Record<string, string>; podIPs?: Record<string, string> } = {}): Promise<StandIn> {
  const seen: Received[] = [];
  let selector: Record<string, string> = opts.selector ?? { app: 'web', slot: 'blue' };
  const versions = new Map<string, string>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '';
      const text = Buffer.concat(chunks).toString('utf8');
      const body: any = text === '' ? undefined : JSON.parse(text);
      seen.push({
        method: req.method ?? '',
        path,
        contentType: req.headers['content-type'],
        authorization: req.headers.authorization,
        body,
      });
      const name = /\/deployments\/([^/?]+)/.exec(path)?.[1];
      if (name && req.method === 'PATCH' && body?.metadata?.annotations?.['cutover/version'])
        versions.set(name, body.metadata.annotations['cutover/version']);
      if (path.includes('/services/') && req.method === 'PATCH') selector = { ...selector, ...body?.spec?.selector };
      const slot = /slot%3D(blue|green)|-(blue|green)[/?]?$|-(blue|green)\?/.exec(path)?.slice(1).find(Boolean) ?? 'blue';
      const version = versions.get(`web-${slot}`) ?? '2.0.0';
      const answer = name
        ? rolledOut(name, 'shop', versions.get(name) ?? '2.0.0', 1)
        : path.includes('/pods')
          ? readyPods(version, [opts.podIPs?.[slot] ?? '10.1.0.9'])
          : path.includes('/httproutes/')
            ? { metadata: { resourceVersion: '1' }, spec: { rules: [{ backendRefs: [{ name: 'web-blue' }, { name: 'web-green' }] }] } }
            : path.includes('/services/')
              ? { spec: { selector } }
              : { items: [] };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen,
    writes: () => seen.filter((r) => r.method !== 'GET'),
    selector: () => ({ ...selector }),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
