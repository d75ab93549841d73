// A router worker process (`workers: N`): one Router on the shared listener, driven by its parent
// over IPC (the supervisor, which owns the listeners and hands them over with `init`, or a router
// host in the same process). It exits when its parent goes away, so it can never outlive it.
import { type ListenHandles, Router, type RouterMetrics, type RouterOptions } from './router.ts';
import type { RouteSpec } from './table.ts';

export type ParentMessage =
  /** With `handed`, the main listener comes with this message and a `preview` one came before it. */
  /** `spec` and `health`: what the service serves now, applied before the first connection is taken. */
  | { t: 'init'; opts: RouterOptions; handed?: boolean; spec?: RouteSpec; health?: [string, boolean][] }
  /** The preview listener, handed over (sent before `init`). */
  | { t: 'preview' }
  | { t: 'apply'; spec: RouteSpec }
  | { t: 'health'; address: string; healthy: boolean }
  | { t: 'metrics'; id: number }
  | { t: 'close'; grace: number };

export type WorkerMessage =
  | { t: 'listening' }
  | { t: 'error'; message: string }
  | { t: 'applied'; generation: number }
  | { t: 'metrics'; id: number; data: RouterMetrics };

function run(): void {
  let router: Router | null = null;
  const send = (m: WorkerMessage): void => {
    if (process.connected) process.send?.(m);
  };
  const handles: ListenHandles = {};
  process.on('message', (m: ParentMessage, handle?: object) => {
    switch (m.t) {
      case 'preview':
        handles.preview = handle;
        break;
      case 'init':
        router = new Router(m.opts);
        // A worker started again takes connections at once: it must already serve the live table.
        for (const [address, healthy] of m.health ?? []) router.setHealth(address, healthy);
        if (m.spec !== undefined) router.apply(m.spec);
        if (m.handed) handles.listen = handle;
        router.listen(handles).then(
          () => send({ t: 'listening' }),
          (err: Error) => {
            send({ t: 'error', message: err.message });
            process.exit(1);
          },
        );
        break;
      case 'apply':
        router?.apply(m.spec);
        send({ t: 'applied', generation: router?.table.generation ?? -1 });
        break;
      case 'health':
        router?.setHealth(m.address, m.healthy);
        break;
      case 'metrics':
        if (router) send({ t: 'metrics', id: m.id, data: router.metrics() });
        break;
      case 'close':
        void (router?.close(m.grace) ?? Promise.resolve()).then(() => process.exit(0));
        break;
    }
  });
  // The daemon died (or closed the channel): stop at once, so no worker is ever orphaned.
  process.on('disconnect', () => process.exit(0));
  // Ctrl-C reaches the whole process group: the daemon decides how the workers stop.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => void (router?.close(0) ?? Promise.resolve()).then(() => process.exit(0)));
}

if (process.env.CUTOVER_WORKER !== undefined && process.send !== undefined) run();
