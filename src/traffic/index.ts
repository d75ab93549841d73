// The adapter a service's `traffic:` section describes. The embedded router is not an adapter
// object: the controller drives it through its router host as before (null here), and reports it
// with ROUTER_CAPABILITIES.
import type { TrafficConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { CaddyAdapter } from './caddy.ts';
import { createDnsAdapter } from './dns.ts';
import { HaproxyAdapter } from './haproxy.ts';
import { createKubernetesServiceAdapter } from './kubernetes-service.ts';
import { NginxAdapter } from './nginx.ts';
import type { TrafficAdapter, TrafficCapabilities } from './types.ts';

/** The embedded router: one reference swap, in-flight requests finish where they started. */
export const ROUTER_CAPABILITIES: TrafficCapabilities = Object.freeze({ lossless: true, weighted: true, eventual: false });

export function createTrafficAdapter(cfg: TrafficConfig, opts: { log: Logger }): TrafficAdapter | null {
  switch (cfg.kind) {
    case 'router':
      return null;
    case 'haproxy':
      return new HaproxyAdapter(cfg, opts);
    case 'nginx':
      return new NginxAdapter(cfg, opts);
    case 'caddy':
      return new CaddyAdapter(cfg, opts);
    case 'dns':
      return createDnsAdapter(cfg);
    case 'kubernetes-service':
      return createKubernetesServiceAdapter(cfg);
    default:
      return cfg satisfies never;
  }
}
