// The demo service cutover deploys in `npm start`: plain Node, no dependencies. Its page shows the
// version it was started with, its colour (the slot, CUTOVER_SLOT) and how many requests it served.
// Version `broken` (or any `*-broken`) exits at once and `v3` never passes its health check, so the tour can show a
// failed release with the live slot untouched; GET /crash makes a replica exit (the provider restarts it).
import http from 'node:http';

const version = process.argv[2] ?? process.env.CUTOVER_VERSION ?? 'dev';
const slot = process.env.CUTOVER_SLOT ?? 'blue';
const port = Number(process.env.PORT ?? 3000);

if (version === 'broken' || version.endsWith('-broken')) {
  console.error(`version ${version}: cannot read config/app.json: no such file`);
  process.exit(1);
}

let served = 0;
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    if (version === 'v3') {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('database migration pending\n');
      return;
    }
    res.end('ok\n');
    return;
  }
  if (req.url === '/crash') {
    // For the tour: the provider restarts a replica that dies, and `cutover history` shows it.
    res.writeHead(500, { 'content-type': 'text/plain', connection: 'close' });
    res.end(`replica ${process.pid} is exiting\n`, () => process.exit(1));
    return;
  }
  served++;
  if (req.url === '/version') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ version, slot, served }));
    return;
  }
  const colour = slot === 'green' ? '#2e8b57' : '#1e5aa8';
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'x-version': version, 'x-slot': slot });
  res.end(`<!doctype html>
<html><head><meta charset="utf-8"><title>demo ${version}</title></head>
<body style="font-family: system-ui, sans-serif; background: ${colour}; color: white; text-align: center; padding-top: 15vh">
<h1 style="font-size: 5rem; margin: 0">${version}</h1>
<p style="font-size: 2rem">served by the <b>${slot}</b> slot</p>
<p>${served} request${served === 1 ? '' : 's'} served by this replica (pid ${process.pid})</p>
</body></html>
`);
});

process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});

server.listen(port, '127.0.0.1', () => console.log(`demo ${version} (${slot}) listening on ${port}`));
