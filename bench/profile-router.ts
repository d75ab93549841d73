// Profiling aid (not a test, not part of npm run bench): one Router in this process on :19500 in front of
// an upstream on :19501, e.g. `npx node --cpu-prof bench/profile-router.ts` with wrk against :19500.
// PROF_LISTEN / PROF_UPSTREAM change the ports (bench/instructions.ts runs it under callgrind).
import { Router } from '../src/router/router.ts';
const listen = process.env.PROF_LISTEN ?? '19500';
const upstream = `127.0.0.1:${process.env.PROF_UPSTREAM ?? '19501'}`;
const r = new Router({
  service: 'prof',
  listen: `127.0.0.1:${listen}`,
  reusePort: false,
  drain: 1000,
  maxHeaderBytes: 16384,
  maxHeaders: 100,
  headersTimeout: 10000,
  idleTimeout: 60000,
  responseTimeout: 60000,
  connectTimeout: Number(process.env.PROF_CONNECT_TIMEOUT ?? 5000),
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
await r.listen();
r.apply({
  service: 'prof',
  generation: 1,
  live: 'blue',
  weights: { blue: 100, green: 0 },
  slots: { blue: { version: null, targets: [upstream] }, green: { version: null, targets: [] } },
});
r.setHealth(upstream, true);
// On exit: this process's CPU per request since the first request, the number that moves least on a busy machine.
let cpu0: NodeJS.CpuUsage | null = null;
let req0 = 0;
const requests = (): number => r.metrics().slots.blue.requests;
const first = setInterval(() => {
  if (requests() > 0 && cpu0 === null) {
    cpu0 = process.cpuUsage();
    req0 = requests();
    clearInterval(first);
  }
}, 5);
const done = (): void => {
  if (cpu0 !== null) {
    const c = process.cpuUsage(cpu0);
    const n = Math.max(1, requests() - req0);
    process.stderr.write(
      `profile-router: ${n} requests, ${((c.user + c.system) / n).toFixed(1)} µs CPU/request (${(c.user / n).toFixed(1)} user, ${(c.system / n).toFixed(1)} system)\n`,
    );
  }
  process.exit(0);
};
process.on('SIGINT', done);
process.on('SIGTERM', done);
setTimeout(done, Number(process.env.PROF_SECONDS ?? 15) * 1000);
