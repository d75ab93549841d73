// The listening sockets the supervisor owns, by listen address: bound once and handed to the
// router processes of every group that serves the address (a group being replaced and its
// successor share one for a moment); closed when the last group using it lets it go.
import net from 'node:net';
import { CutoverError } from '../errors.ts';
import { joinHostPort, splitHostPort } from '../net/address.ts';

/**
 * A bound TCP socket as a handle that can be sent to child processes. Not `net.Server.listen()`:
 * that would make the supervisor accept connections itself. The socket enters LISTEN in the first
 * router; the supervisor's copy keeps it open while routers restart, so connections wait in its
 * queue instead of being refused.
 */
export interface BoundHandle {
  close(): void;
  getsockname(out: { address?: string; port?: number }): number;
}

/** A bound socket the supervisor holds but never accepts on: its router processes do. */
export interface BoundSocket {
  address: string;
  /** The address it really has: the port the kernel chose when `address` names port 0. */
  bound: string;
  handle: BoundHandle;
  /** The groups whose routers listen on it. */
  users: Set<string>;
}

interface NodeNetInternals {
  /** Binds without listening (what node's cluster uses to share a socket among workers). */
  _createServerHandle(address: string, port: number, addressType: number, fd?: number, flags?: number): unknown;
}

function bindHandle(address: string): BoundHandle {
  const { host, port } = splitHostPort(address);
  const family = net.isIP(host);
  if (family === 0) throw new CutoverError('CUTOVER_E_LISTEN', `cannot listen on ${address}: give an IP address, not a name`, 500);
  const r = (net as unknown as NodeNetInternals)._createServerHandle(host, Number(port), family, undefined, 0);
  if (typeof r === 'number') {
    throw new CutoverError('CUTOVER_E_LISTEN', `cannot listen on ${address}: ${codeName(r)}; pick a free address in \`listen\``, 500);
  }
  return r as BoundHandle;
}

function boundAddress(handle: BoundHandle, address: string): string {
  const out: { address?: string; port?: number } = {};
  if (handle.getsockname(out) !== 0 || out.address === undefined || out.port === undefined) return address;
  return joinHostPort(out.address, out.port);
}

function codeName(errno: number): string {
  const names: Record<number, string> = {
    [-98]: 'EADDRINUSE (address in use)',
    [-13]: 'EACCES (permission denied)',
    [-99]: 'EADDRNOTAVAIL',
  };
  return names[errno] ?? `error ${errno}`;
}

export class BoundSockets {
  readonly #byAddress = new Map<string, BoundSocket>();

  /** The socket bound to `address` (bound now if nobody holds it), with `user` among its users. */
  take(address: string, user: string): BoundSocket {
    let l = this.#byAddress.get(address);
    if (l === undefined) {
      const handle = bindHandle(address);
      l = { address, bound: boundAddress(handle, address), handle, users: new Set() };
      this.#byAddress.set(address, l);
    }
    l.users.add(user);
    return l;
  }

  /** `user` lets the socket go; the last one closes it. */
  release(l: BoundSocket, user: string): void {
    l.users.delete(user);
    if (l.users.size > 0) return;
    l.handle.close();
    if (this.#byAddress.get(l.address) === l) this.#byAddress.delete(l.address);
  }

  closeAll(): void {
    for (const l of this.#byAddress.values()) l.handle.close();
    this.#byAddress.clear();
  }
}
