// Splitting and joining `host:port` for addresses that are already valid (config/address.ts is the
// strict check at the edge). A leaf: the router, the control plane and the tests all use it, so the
// rule for brackets around IPv6 hosts is written once.

export interface HostPort {
  /** Without brackets: `::1`, `127.0.0.1`, `localhost`. */
  host: string;
  port: number;
}

/** `127.0.0.1:8080` or `[::1]:8080`; the port is what follows the last colon. Trusts its input. */
export function splitHostPort(address: string): HostPort {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(address.slice(colon + 1)) };
}

/** The address form of a host and port, with brackets around an IPv6 host. */
export function joinHostPort(host: string, port: number | string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

const WILDCARD = new Set(['', '0.0.0.0', '::']);

/** Where this machine reaches a listener: a wildcard host is reached on loopback. */
export function reachableHost(host: string): string {
  return WILDCARD.has(host) ? '127.0.0.1' : host;
}

/** Whether `host` (no brackets) is this machine's loopback: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}
