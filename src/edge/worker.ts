// One of the router processes of an edge listener: it serves every service on that listener (TLS,
// HTTP/2, the choice of service by host and path), one EdgeRouterHost per service on one
// EdgeListeners registry, driven by its parent over IPC (edge/worker-group.ts). Run by the
// supervisor, it gets the listening sockets handed over (the listener, the httpRedirect listener,
// each service's preview listener) instead of binding them, so the edge outlives the controller;
// run by a controller (`workers: N` without a supervisor), it binds them with SO_REUSEPORT and the
// kernel spreads connections over its siblings. Each process loads the certificate files itself and
// reloads them when they change, so every one serves the same certificate. With ACME the client runs
// in the controller: a process loads the certificate files it writes and answers the challenges it
// is handed (`state` messages), and orders nothing itself.
import { createLogger } from '../log.ts';
import type { RouterMetrics, RouterOptions } from '../router/router.ts';
import type { RouteSpec } from '../router/table.ts';
import { AcmeChallenges } from './acme.ts';
import { CERTIFICATES_KEY, type Challenge } from './challenge-sink.ts';
import { type EdgeConfig, EdgeListeners, EdgeRouterHost } from './host.ts';
import { REDIRECT_ROUTES_KEY, type RedirectRoute } from './redirect.ts';

export type EdgeParentMessage =
  /** A socket the parent owns, bound to `address`, comes with this message; sent before the `add` that uses it. */
  | { t: 'socket'; address: string }
  /**
   * Serve a service on the listener; `spec` and `health`: what it serves now, applied before the
   * first connection. `hold`: join it but accept no connection until `listen` (a process started
   * again gets every service of the listener that way), and answer `added` then.
   */
  | { t: 'add'; service: string; opts: RouterOptions; edge: EdgeConfig; spec?: RouteSpec; health?: [string, boolean][]; hold?: boolean }
  /** Every held service is sent: listen for all of them (sent after their `add`s). */
  | { t: 'listen' }
  | { t: 'remove'; service: string; grace: number }
  | { t: 'apply'; service: string; spec: RouteSpec }
  | { t: 'health'; service: string; address: string; healthy: boolean }
  | { t: 'metrics'; service: string; id: number }
  /**
   * Keyed state of the whole process: an ACME challenge (null: taken away), CERTIFICATES_KEY: load
   * the ACME files again, REDIRECT_ROUTES_KEY: the TLS services of every listener, for httpRedirect.
   */
  | { t: 'state'; id: number; key: string; value: unknown }
  | { t: 'close'; grace: number };

export type EdgeWorkerMessage =
  | { t: 'added'; service: string; generation: number }
  | { t: 'removed'; service: string }
  | { t: 'error'; service: string; message: string }
  | { t: 'applied'; service: string; generation: number }
  | { t: 'metrics'; id: number; data: RouterMetrics | null }
  | { t: 'state-ack'; id: number };

function run(): void {
  const log = createLogger().child({ worker: process.env.CUTOVER_WORKER });
  const send = (m: EdgeWorkerMessage): void => {
    if (process.connected) process.send?.(m);
  };
  const handed = new Map<string, object>();
  // The HTTP-01 and TLS-ALPN-01 answers this process gives (its redirect and TLS listeners read
  // them): the ACME clients in the controller hand them over as `state`.
  const challenges = new AcmeChallenges();
  const registry = new EdgeListeners(challenges, true, handed);
  const hosts = new Map<string, EdgeRouterHost>();
  // Messages of one service run in order (an `apply` right after its `add` waits for the add).
  const queues = new Map<string, Promise<void>>();
  const serial = (service: string, step: () => Promise<void>): void => {
    const next = (queues.get(service) ?? Promise.resolve()).then(step).catch((err: Error) => {
      send({ t: 'error', service, message: err.message });
    });
    queues.set(service, next);
  };
  let listening: Promise<unknown> = Promise.resolve();
  const generationOf = (h: EdgeRouterHost | undefined): number => h?.router.table.generation ?? -1;
  // One at a time: services joining at once (a process started again gets them all) share one
  // listener, which must start listening once.
  const listen = async (service: string, h: EdgeRouterHost): Promise<void> => {
    try {
      const listened = listening.then(() => h.listen());
      listening = listened.catch(() => {});
      await listened;
    } catch (err) {
      if (hosts.get(service) === h) hosts.delete(service);
      await h.close(0).catch(() => {});
      throw err;
    }
    send({ t: 'added', service, generation: generationOf(h) });
  };
  /** Services added with `hold`: joined, not yet listened for. */
  const held = new Set<string>();

  process.on('message', (m: EdgeParentMessage, handle?: object) => {
    switch (m.t) {
      case 'socket':
        if (handle !== undefined) handed.set(m.address, handle);
        break;
      case 'add':
        // Counted now, not in its step: the `listen` right behind it may come in the same tick.
        if (m.hold === true) held.add(m.service);
        else held.delete(m.service);
        serial(m.service, async () => {
          // Not sent for a service already here (edge/worker-group.ts); if it is, it starts afresh.
          await hosts.get(m.service)?.close(0);
          const h = new EdgeRouterHost({ ...m.opts, reusePort: true }, m.edge, log.child({ service: m.service }), registry, {
            filesOnly: true,
          });
          hosts.set(m.service, h);
          // Connections may come at once: the service must already serve its live table.
          for (const [address, healthy] of m.health ?? []) h.setHealth(address, healthy);
          if (m.spec !== undefined) h.router.apply(m.spec);
          // Held: its hosts are claimed now; connections are accepted once every held service is here.
          if (m.hold === true) h.join();
          else await listen(m.service, h);
        });
        break;
      case 'listen': {
        // The held adds came before this message: once each has run (its own queue), listen for all.
        const names = [...held];
        held.clear();
        const joined = Promise.all(names.map((n) => queues.get(n)));
        for (const n of names)
          serial(n, async () => {
            await joined;
            const h = hosts.get(n);
            // Removed meanwhile (its `remove` ran after the add): nothing to listen for.
            if (h !== undefined) await listen(n, h);
          });
        break;
      }
      case 'remove':
        held.delete(m.service);
        serial(m.service, async () => {
          const h = hosts.get(m.service);
          hosts.delete(m.service);
          await h?.close(m.grace);
          send({ t: 'removed', service: m.service });
        });
        break;
      case 'apply':
        serial(m.service, async () => {
          const h = hosts.get(m.service);
          if (h !== undefined) await h.apply(m.spec);
          send({ t: 'applied', service: m.service, generation: generationOf(h) });
        });
        break;
      case 'health':
        hosts.get(m.service)?.setHealth(m.address, m.healthy);
        break;
      case 'metrics': {
        const h = hosts.get(m.service);
        if (h === undefined) send({ t: 'metrics', id: m.id, data: null });
        else void h.metrics().then((data) => send({ t: 'metrics', id: m.id, data }));
        break;
      }
      case 'state':
        if (m.key === CERTIFICATES_KEY) for (const h of hosts.values()) h.reloadCertificates();
        else if (m.key === REDIRECT_ROUTES_KEY) registry.setRedirectRoutes((m.value as RedirectRoute[] | null) ?? []);
        else challenges.apply(m.key, m.value as Challenge | null);
        send({ t: 'state-ack', id: m.id });
        break;
      case 'close':
        void closeAll(m.grace).then(() => process.exit(0));
        break;
    }
  });
  const closeAll = (grace: number): Promise<unknown> => Promise.all([...hosts.values()].map((h) => h.close(grace).catch(() => {})));
  // The parent died (or closed the channel): stop at once, so no worker is ever orphaned.
  process.on('disconnect', () => process.exit(0));
  // Ctrl-C reaches the whole process group: the parent decides how the workers stop.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => void closeAll(0).then(() => process.exit(0)));
}

if (process.env.CUTOVER_WORKER !== undefined && process.send !== undefined) run();
