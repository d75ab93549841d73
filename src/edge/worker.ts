// One of the `workers` processes of a service on an edge listener: the same messages as a router
// worker (router/worker.ts), serving an edge listener (TLS, HTTP/2, hosts, paths) of its own bound
// with SO_REUSEPORT, so the kernel spreads connections over the workers. Each loads the
// certificate files itself (and reloads them when they change), so every worker serves the same one.
// Run by the supervisor, a worker gets the listening sockets handed over instead of binding them, so
// the edge outlives the controller like any other service's routers (daemon/supervisor.ts). With
// ACME the client runs in the controller: a worker loads the certificate files it writes and answers
// the challenges it is handed (`state` messages), so every worker serves the same certificate.
import { createLogger } from '../log.ts';
import type { WorkerMessage, ParentMessage } from '../router/worker.ts';
import { AcmeChallenges } from './acme.ts';
import { CERTIFICATES_KEY, type Challenge } from './challenge-sink.ts';
import { type EdgeConfig, EdgeListeners, EdgeRouterHost } from './host.ts';

function run(): void {
  let host: EdgeRouterHost | null = null;
  let generation = -1;
  const log = createLogger();
  const send = (m: WorkerMessage): void => {
    if (process.connected) process.send?.(m);
  };
  // Sockets the supervisor owns come with `preview` and `init` (handed): listened on, never bound here.
  const handles: { listen?: object; preview?: object } = {};
  const challenges = new AcmeChallenges();
  process.on('message', (m: ParentMessage, handle?: object) => {
    switch (m.t) {
      case 'init': {
        const edge = m.extra?.edge as EdgeConfig;
        if (m.handed) handles.listen = handle;
        const h = new EdgeRouterHost(
          { ...m.opts, reusePort: !m.handed },
          edge,
          log.child({ service: m.opts.service, worker: process.env.CUTOVER_WORKER }),
          new EdgeListeners(challenges, !m.handed, handles),
          { filesOnly: true },
        );
        host = h;
        // A worker started again takes connections at once: it must already serve the live table.
        for (const [address, healthy] of m.health ?? []) h.setHealth(address, healthy);
        if (m.spec !== undefined) {
          h.router.apply(m.spec);
          generation = h.router.table.generation;
        }
        h.listen().then(
          () => send({ t: 'listening' }),
          (err: Error) => {
            send({ t: 'error', message: err.message });
            process.exit(1);
          },
        );
        break;
      }
      case 'preview':
        // Handed by the supervisor; without one, an edge worker binds its preview listener itself (SO_REUSEPORT).
        handles.preview = handle;
        break;
      case 'apply':
        if (host !== null) {
          void host.apply(m.spec);
          generation = host.router.table.generation;
        }
        send({ t: 'applied', generation });
        break;
      case 'health':
        host?.setHealth(m.address, m.healthy);
        break;
      case 'state':
        // What an edge worker is handed: the ACME certificate files changed, or an ACME challenge by key (null: taken away).
        if (m.key === CERTIFICATES_KEY) host?.reloadCertificates();
        else challenges.apply(m.key, m.value as Challenge | null);
        send({ t: 'state-ack', id: m.id });
        break;
      case 'metrics':
        if (host !== null) void host.metrics().then((data) => send({ t: 'metrics', id: m.id, data }));
        break;
      case 'close':
        void (host?.close(m.grace) ?? Promise.resolve()).then(() => process.exit(0));
        break;
    }
  });
  // The daemon died (or closed the channel): stop at once, so no worker is ever orphaned.
  process.on('disconnect', () => process.exit(0));
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => void (host?.close(0) ?? Promise.resolve()).then(() => process.exit(0)));
}

if (process.env.CUTOVER_WORKER !== undefined && process.send !== undefined) run();
