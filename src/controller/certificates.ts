// The certificates an edge listener gets from ACME, in the event log: each one obtained or renewed,
// and each attempt that failed (with its reason and when it is tried again), as `certificate` events
// of the service, so `GET /api/v1/events`, webhooks and history show them beside the releases.
import type { CertificateEvent } from '../edge/acme.ts';
import type { Logger } from '../log.ts';
import type { RouterHost } from '../router/host.ts';
import type { Store } from '../store/types.ts';

/** A router host whose listener obtains certificates itself says so by having this hook. */
interface CertificateSource {
  onCertificate: ((e: CertificateEvent) => void) | null;
}

/** Writes the host's ACME outcomes to the store from now on; a host without ACME is left alone. */
export function recordCertificates(host: RouterHost, store: Store, service: string, log: Logger): void {
  if (!('onCertificate' in host)) return;
  (host as RouterHost & CertificateSource).onCertificate = (e) => {
    const { state } = e;
    store
      .appendEvent({
        service,
        type: 'certificate',
        actor: 'controller',
        reason: e.reason,
        data: {
          host: e.host,
          outcome: e.outcome,
          directory: e.directory,
          notAfter: state.notAfter,
          error: state.error,
          failures: state.failures,
          nextAttempt: state.nextAttempt,
        },
      })
      .catch((err: unknown) => log.warn('cannot record a certificate event', { host: e.host, outcome: e.outcome, err }));
  };
}
