// Active health checks: one loop per target, an HTTP GET of the health path on a fresh connection.
// A target becomes healthy after `healthyThreshold` passes in a row and unhealthy after
// `unhealthyThreshold` failures in a row. Off the request path, so node:http is fine here.
import http from 'node:http';
import type { HealthConfig } from '../config/types.ts';
import { splitHostPort } from '../net/address.ts';

export interface TargetHealth {
  address: string;
  healthy: boolean;
  lastError: string | null;
  lastCheck: number;
  passes: number;
  failures: number;
}

export type HealthListener = (address: string, healthy: boolean) => void;

export function checkOnce(address: string, cfg: HealthConfig): Promise<string | null> {
  const { host, port } = splitHostPort(address);
  return new Promise((resolve) => {
    let done = false;
    const finish = (err: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(err);
    };
    const req = http.get(
      { host, port, path: cfg.path, headers: { ...cfg.headers, connection: 'close', 'user-agent': 'cutover-health' }, agent: false },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        const ok = cfg.expectStatus !== undefined ? status === cfg.expectStatus : status >= 200 && status < 400;
        res.on('end', () => finish(ok ? null : `status ${status}`));
        res.on('error', (e) => finish(e.message));
      },
    );
    const timer = setTimeout(() => {
      finish(`no answer within ${cfg.timeout}ms`);
      req.destroy();
    }, cfg.timeout);
    req.on('error', (e: Error & { code?: string }) => finish(e.code ?? e.message));
  });
}

export class HealthChecker {
  private readonly cfg: HealthConfig;
  private readonly listener: HealthListener;
  private readonly states = new Map<string, TargetHealth & { timer: NodeJS.Timeout | null; stopped: boolean }>();

  constructor(cfg: HealthConfig, listener: HealthListener) {
    this.cfg = cfg;
    this.listener = listener;
  }

  /** Checks exactly these addresses from now on (new ones start unhealthy and are checked at once). */
  watch(addresses: Iterable<string>): void {
    const wanted = new Set(addresses);
    for (const [address, st] of this.states) {
      if (!wanted.has(address)) {
        st.stopped = true;
        if (st.timer) clearTimeout(st.timer);
        this.states.delete(address);
      }
    }
    for (const address of wanted) {
      if (this.states.has(address)) continue;
      const st = { address, healthy: false, lastError: null, lastCheck: 0, passes: 0, failures: 0, timer: null, stopped: false };
      this.states.set(address, st);
      void this.loop(st);
    }
  }

  private async loop(st: TargetHealth & { timer: NodeJS.Timeout | null; stopped: boolean }): Promise<void> {
    if (st.stopped) return;
    const err = await checkOnce(st.address, this.cfg);
    if (st.stopped) return;
    st.lastCheck = Date.now();
    st.lastError = err;
    if (err === null) {
      st.passes++;
      st.failures = 0;
      if (!st.healthy && st.passes >= this.cfg.healthyThreshold) {
        st.healthy = true;
        this.listener(st.address, true);
      }
    } else {
      st.failures++;
      st.passes = 0;
      if (st.healthy && st.failures >= this.cfg.unhealthyThreshold) {
        st.healthy = false;
        this.listener(st.address, false);
      }
    }
    st.timer = setTimeout(() => void this.loop(st), this.cfg.interval);
    st.timer.unref();
  }

  get(address: string): TargetHealth | undefined {
    const st = this.states.get(address);
    if (!st) return undefined;
    const { timer: _t, stopped: _s, ...rest } = st;
    return rest;
  }

  /** Resolves once every address is healthy, or rejects at the timeout naming those that are not. */
  async waitHealthy(addresses: string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const bad = addresses.filter((a) => !this.states.get(a)?.healthy);
      if (bad.length === 0) return;
      if (Date.now() >= deadline) {
        throw new Error(bad.map((a) => `${a} (${this.states.get(a)?.lastError ?? 'not checked yet'})`).join(', '));
      }
      await new Promise((r) => setTimeout(r, Math.min(50, this.cfg.interval)));
    }
  }

  close(): void {
    this.watch([]);
  }
}
