// `host:port` addresses as written in cutover.yaml (listeners and static targets). IPv6 hosts are
// written in brackets (`[::1]:8080`) so the port is never ambiguous.
import { isIPv4, isIPv6 } from 'node:net';
import type { HostPort } from '../net/address.ts';

export type { HostPort };

/** For editors (JSON Schema `pattern`); parseHostPort is the real check. */
export const ADDRESS_PATTERN = '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$';

const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$/;
const HINT = 'write host:port, like 127.0.0.1:8080 (IPv6 in brackets: [::1]:8080)';

/** Throws a RangeError whose message says what to write instead. */
export function parseHostPort(input: unknown): HostPort {
  if (typeof input === 'number') throw new RangeError(`${HINT}; a bare port is not enough`);
  if (typeof input !== 'string') throw new RangeError(HINT);
  const text = input.trim();
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') throw new RangeError(`\`${text}\` is not an address; ${HINT}`);
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!isIPv6(host)) throw new RangeError(`\`${host}\` in \`${text}\` is not an IPv6 address; ${HINT}`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw new RangeError(`\`${text}\` has no port; ${HINT}`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) throw new RangeError(`\`${text}\` looks like IPv6; put the host in brackets, like [::1]:8080`);
    if (host === '')
      throw new RangeError(
        `\`${text}\` has no host; write 0.0.0.0${text} to listen on every interface, or 127.0.0.1${text} for this machine only`,
      );
    const looksNumeric = /^[0-9.]+$/.test(host);
    if (looksNumeric ? !isIPv4(host) : !HOSTNAME.test(host)) {
      throw new RangeError(`\`${host}\` in \`${text}\` is not a host name or IPv4 address; ${HINT}`);
    }
  }
  if (!/^[0-9]{1,5}$/.test(portText)) throw new RangeError(`\`${text}\` has no valid port; ${HINT}`);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new RangeError(`port ${port} in \`${text}\` is out of range; use a port from 1 to 65535`);
  return { host, port };
}

const WILDCARD = new Set(['0.0.0.0', '::']);

/**
 * Whether two listeners would fight over the same socket: the same port, and the same host or a
 * wildcard host on either side (0.0.0.0 and :: take the port on every interface).
 */
export function sameListener(a: HostPort, b: HostPort): boolean {
  if (a.port !== b.port) return false;
  return a.host.toLowerCase() === b.host.toLowerCase() || WILDCARD.has(a.host) || WILDCARD.has(b.host);
}
