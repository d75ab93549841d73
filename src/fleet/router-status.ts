// The small local endpoint of a fleet router: `GET /status` (JSON: etcd connected or not, the
// generation served per service) and `GET /metrics` (Prometheus text), for the machine's own checks.
import http from 'node:http';
import type net from 'node:net';
import { Gauge, Registry } from 'prom-client';
import { splitHostPort } from '../net/address.ts';
import { CutoverError } from '../errors.ts';
import type { FleetRouter } from './router-node.ts';

export async function serveRouterStatus(router: FleetRouter, address: string): Promise<{ server: http.Server; port: number }> {
  const registry = new Registry();
  new Gauge({
    name: 'cutover_router_etcd_connected',
    help: '1 while the router reaches etcd; 0 while it serves its last route tables without it',
    registers: [registry],
    collect() {
      this.set(router.connected ? 1 : 0);
    },
  });
  new Gauge({
    name: 'cutover_router_generation',
    help: 'The generation of the route table the router serves, per service',
    labelNames: ['service'],
    registers: [registry],
    collect() {
      for (const [service, s] of Object.entries(router.status().services)) this.set({ service }, s.generation);
    },
  });
  const server = http.createServer((req, res) => {
    void (async () => {
      if (req.url === '/status') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(router.status()));
      } else if (req.url === '/metrics') {
        res.setHeader('content-type', registry.contentType);
        res.end(await registry.metrics());
      } else {
        res.statusCode = 404;
        res.end('try /status or /metrics\n');
      }
    })();
  });
  const { host, port } = splitHostPort(address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new CutoverError(
          'CUTOVER_E_LISTEN',
          `the router's status endpoint cannot listen on ${address}: ${err.message}; pick a free --status address`,
          500,
          { cause: err },
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as net.AddressInfo).port };
}
