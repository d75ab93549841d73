// The app the MTTR and false-alarm bench rounds deploy; the version name says how it behaves.
//   bad500    every request (not /healthz) answers 500
//   slow2s    every request (not /healthz) answers 200 after 2 s
//   jitter*   answers 200 after a random 1-50 ms, and 1 request in 100 after 200 ms: realistic latency
//   anything else: answers 200 at once
import http from 'node:http';

const version = process.argv[2] ?? 'dev';
const port = Number(process.env.PORT ?? 3000);
const body = JSON.stringify({ version, slot: process.env.CUTOVER_SLOT ?? 'blue' });

function delayMs() {
  if (version === 'slow2s') return 2000;
  if (version.startsWith('jitter')) return Math.random() < 0.01 ? 200 : 1 + Math.random() * 49;
  return 0;
}

http
  .createServer((req, res) => {
    if (req.url === '/healthz') return res.end('ok\n');
    const answer = () => {
      res.writeHead(version === 'bad500' ? 500 : 200, { 'content-type': 'application/json' });
      res.end(body);
    };
    const ms = delayMs();
    if (ms > 0) setTimeout(answer, ms);
    else answer();
  })
  .listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
