// Node's floor for the bench: each client connection piped to its own upstream connection, no HTTP at
// all. Whatever a proxy written in Node does above this is the price of HTTP, not of the runtime.
// Usage: node bench/apps/floor-pipe.ts LISTEN_PORT UPSTREAM_PORT
import net from 'node:net';

const [listen, upstream] = process.argv.slice(2).map(Number) as [number, number];
const server = net.createServer({ noDelay: true }, (client) => {
  const up = net.connect({ host: '127.0.0.1', port: upstream, noDelay: true });
  client.pipe(up);
  up.pipe(client);
  const end = (): void => {
    client.destroy();
    up.destroy();
  };
  client.on('error', end);
  up.on('error', end);
  client.on('close', end);
  up.on('close', end);
});
server.listen({ host: '127.0.0.1', port: listen, backlog: 2048 });
process.on('SIGTERM', () => process.exit(0));
