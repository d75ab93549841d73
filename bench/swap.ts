// How long a switch takes on the router itself: `Router.apply()` builds the next route table and swaps
// one reference. Run: `npx node bench/swap.ts` (prints median, p99 and max over 20,000 switches, and
// the same with 50 keep-alive connections busy on the router).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Router } from '../src/router/router.ts';
import type { RouteSpec } from '../src/router/table.ts';

const SWITCHES = 20_000;

async function upstream(): Promise<{ address: string; close(): void }> {
  const s = http.createServer((_req, res) => res.end('ok'));
  s.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { address: `127.0.0.1:${(s.address() as AddressInfo).port}`, close: () => s.close() };
}

const stats = (us: number[]): string => {
  us.sort((a, b) => a - b);
  const q = (p: number) => us[Math.min(us.length - 1, Math.floor(p * us.length))]!.toFixed(2);
  return `median ${q(0.5)} us, p99 ${q(0.99)} us, max ${us.at(-1)!.toFixed(2)} us`;
};

const [blue, green] = [await upstream(), await upstream()];
const router = new Router({
  service: 'bench',
  listen: '127.0.0.1:0',
  reusePort: false,
  drain: 30_000,
  maxHeaderBytes: 16384,
  maxHeaders: 100,
  headersTimeout: 10_000,
  idleTimeout: 60_000,
  responseTimeout: 60_000,
  connectTimeout: 5000,
  upstreamIdle: 4000,
  via: false,
  maxIdlePerTarget: 256,
  previewHeader: 'x-cutover-preview',
  previewCookie: 'cutover-preview',
  stickyCookie: 'cutover-slot',
  stickyAttributes: 'Path=/',
  bodyTimeout: 30000,
  trustedProxies: [],
  maxConnections: 0,
});
const { port } = await router.listen();
router.setHealth(blue.address, true);
router.setHealth(green.address, true);
const spec = (generation: number): RouteSpec => ({
  service: 'bench',
  generation,
  live: generation % 2 ? 'blue' : 'green',
  weights: generation % 2 ? { blue: 100, green: 0 } : { blue: 0, green: 100 },
  slots: { blue: { version: 'v1', targets: [blue.address] }, green: { version: 'v2', targets: [green.address] } },
});

const measure = (from: number): number[] => {
  const out: number[] = [];
  for (let g = from; g < from + SWITCHES; g++) {
    const t = process.hrtime.bigint();
    router.apply(spec(g));
    out.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  return out;
};
router.apply(spec(1));
console.log(`idle router:        ${stats(measure(2))}`);

// With traffic: 50 keep-alive clients looping; the switches interleave with their requests.
const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
let running = true;
const loops = Array.from({ length: 50 }, async () => {
  while (running)
    await new Promise<void>((r) => http.get({ host: '127.0.0.1', port, agent }, (res) => res.resume().on('end', r)).on('error', () => r()));
});
await new Promise((r) => setTimeout(r, 500));
const busy: number[] = [];
for (let i = 0; i < 200; i++) {
  busy.push(...measure(2 + SWITCHES * (i + 1)).slice(0, 100));
  await new Promise((r) => setImmediate(r));
}
running = false;
await Promise.all(loops);
agent.destroy();
console.log(`under 50 clients:   ${stats(busy)}`);
await router.close();
blue.close();
green.close();
