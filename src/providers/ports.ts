// Free TCP ports for replicas: bind port 0 on 127.0.0.1, read what the kernel chose, close, and hand
// the number to the replica as PORT. Another program may take the port in between; the replica then
// fails to listen and is restarted with backoff on the same number, so its target stays stable.
import { createServer } from 'node:net';

export const REPLICA_HOST = '127.0.0.1';

/** Ports handed to replicas of this daemon and not given back yet: never handed out twice. */
const reserved = new Set<number>();

export function freePort(host = REPLICA_HOST): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error(`no port was assigned on ${host}`))));
    });
  });
}

/** `count` distinct free ports, reserved until releasePorts(). */
export async function reservePorts(count: number, host = REPLICA_HOST): Promise<number[]> {
  const ports: number[] = [];
  // The kernel seldom hands out a reserved port again; the bound keeps a pathological host from
  // looping forever.
  for (let tries = 0; ports.length < count; tries++) {
    if (tries >= count * 20) {
      releasePorts(ports);
      throw new Error(`could not find ${count} free ports on ${host}`);
    }
    const port = await freePort(host);
    if (reserved.has(port)) continue;
    reserved.add(port);
    ports.push(port);
  }
  return ports;
}

export function releasePorts(ports: readonly number[]): void {
  for (const port of ports) reserved.delete(port);
}
