// Profiling aid (not a test, not part of npm run bench): one Router in this process on :19500 in front of
// an upstream on :19501, e.g. `npx node --cpu-prof bench/profile-router.ts` with wrk against :19500.
import { Router } from '../src/router/router.ts';
const r = new Router({
  service: 'prof',
  listen: '127.0.0.1:19500',
  reusePort: false,
  drain: 1000,
  maxHeaderBytes: 16384,
  maxHeaders: 100,
  headersTimeout: 10000,
  idleTimeout: 60000,
  responseTimeout: 60000,
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
await r.listen();
r.apply({
  service: 'prof',
  generation: 1,
  live: 'blue',
  weights: { blue: 100, green: 0 },
  slots: { blue: { version: null, targets: ['127.0.0.1:19501'] }, green: { version: null, targets: [] } },
});
r.setHealth('127.0.0.1:19501', true);
process.on('SIGINT', () => process.exit(0));
setTimeout(() => process.exit(0), Number(process.env.PROF_SECONDS ?? 15) * 1000);
