// Node's floor for the memory round (bench/memory.ts): a bare `net` server that answers every chunk a
// client sends with one fixed keep-alive response and otherwise holds the connection. What this costs per
// idle connection, and keeps after they close, is the runtime's, not cutover's. The bench sends one
// small GET per connection, so one chunk is one request here; nothing else is parsed.
// Usage: node [flags] bench/apps/floor-idle.ts LISTEN_PORT
import net from 'node:net';

const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok');
const [listen] = process.argv.slice(2).map(Number) as [number];

function answer(this: net.Socket): void {
  this.write(RESPONSE);
}
function drop(this: net.Socket): void {
  this.destroy();
}

const server = net.createServer({ noDelay: true }, (client) => {
  client.on('data', answer);
  client.on('error', drop);
  client.on('end', drop);
});
server.listen({ host: '127.0.0.1', port: listen, backlog: 2048 });
process.on('SIGTERM', () => process.exit(0));
