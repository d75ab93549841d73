// The DNS and Kubernetes rows of `npm run bench -- --adapters` (bench/adapters.ts). DNS carries no
// requests, so there is no failed-requests column: per api, how long a switch takes until the
// authoritative server answers the new addresses (apply), until an independent `dig` sees them (which
// includes starting dig, about 0.1 s here), and
// how long clients may keep the old answer (the TTL, `settleAfter`). Real Debian PowerDNS and BIND on
// loopback. The kubernetes-service row runs against a loopback stand-in of the API (no API server
// runs here): it measures cutover's own side of a switch only, not a cluster's propagation.
import { spawnSync } from 'node:child_process';
import { KubeClient } from '../src/kubernetes/client.ts';
import { createDnsAdapter } from '../src/traffic/dns.ts';
import { KubernetesServiceAdapter } from '../src/traffic/kubernetes-service.ts';
import type { TrafficAdapter, TrafficState } from '../src/traffic/types.ts';
import { RECORD, ZONE, startBind, startPowerDns } from '../test/dns-servers.ts';
import { startApiStandIn } from '../test/kubernetes-api.ts';

export const DNS_K8S_KINDS = ['dns-powerdns', 'dns-rfc2136', 'kubernetes-recorded'] as const;

export interface DnsK8sRow {
  adapter: string;
  switches: number;
  applyMs: { median: number; max: number };
  /** ms from the start of apply until `dig` answers the new slot; null where there is no DNS. */
  digSeesMs: { median: number; max: number } | null;
  /** ms clients may keep the old answer after a switch (the TTL); 0 when they follow at once. */
  settleAfterMs: number;
  note: string;
}

const SLOTS = { blue: ['127.0.0.2:8080'], green: ['127.0.0.3:8080'] };
const stateFor = (generation: number, live: 'blue' | 'green'): TrafficState => ({
  generation,
  live,
  weights: { blue: live === 'blue' ? 100 : 0, green: live === 'green' ? 100 : 0 },
  slots: { blue: { version: '1', targets: SLOTS.blue }, green: { version: '2', targets: SLOTS.green } },
});
const hostOf = (live: 'blue' | 'green') => SLOTS[live][0]!.split(':')[0]!;

const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor((s.length - 1) / 2)] ?? 0, max: s.at(-1) ?? 0 };
};

function digAnswers(port: number): string {
  const r = spawnSync('dig', ['@127.0.0.1', '-p', String(port), '+tcp', '+norecurse', '+short', RECORD, 'A'], {
    encoding: 'utf8',
    timeout: 5000,
  });
  return r.stdout.trim();
}

async function switches(name: string, adapter: TrafficAdapter, n: number, digPort: number | null, note: string): Promise<DnsK8sRow> {
  const apply: number[] = [];
  const dig: number[] = [];
  await adapter.apply(stateFor(1, 'blue'));
  for (let i = 0; i < n; i++) {
    const live = i % 2 === 0 ? 'green' : 'blue';
    const t0 = performance.now();
    await adapter.apply(stateFor(i + 2, live));
    apply.push(performance.now() - t0);
    if (digPort !== null) {
      for (let j = 0; j < 200 && digAnswers(digPort) !== hostOf(live); j++) await new Promise((r) => setTimeout(r, 5));
      dig.push(performance.now() - t0);
    }
  }
  return {
    adapter: name,
    switches: n,
    applyMs: summary(apply),
    digSeesMs: digPort === null ? null : summary(dig),
    settleAfterMs: adapter.settleAfter ?? 0,
    note,
  };
}

export async function measureDnsK8s(kinds: string[], n: number, log: (line: string) => void): Promise<DnsK8sRow[]> {
  const rows: DnsK8sRow[] = [];
  const common = { zone: ZONE, record: RECORD, ttl: 5, timeout: 10_000 };
  if (kinds.includes('dns-powerdns')) {
    log(`dns-powerdns: ${n} switches through the PowerDNS API`);
    const pdns = await startPowerDns(['127.0.0.2']);
    try {
      const adapter = createDnsAdapter(
        {
          kind: 'dns',
          api: 'powerdns',
          server: pdns.api,
          serverId: 'localhost',
          apiKeyEnv: 'K',
          nameserver: `127.0.0.1:${pdns.port}`,
          ...common,
        },
        { K: pdns.apiKey },
      );
      rows.push(await switches('dns (powerdns)', adapter, n, pdns.port, 'PowerDNS 4.7 sqlite3 backend; clients follow after the TTL'));
    } finally {
      await pdns.stop();
    }
  }
  if (kinds.includes('dns-rfc2136')) {
    log(`dns-rfc2136: ${n} switches by RFC 2136 updates to BIND`);
    const bind = await startBind(['127.0.0.2']);
    try {
      const adapter = createDnsAdapter(
        {
          kind: 'dns',
          api: 'rfc2136',
          server: `127.0.0.1:${bind.port}`,
          tsig: { name: bind.keyName, algorithm: 'hmac-sha256', secretEnv: 'S' },
          ...common,
        },
        { S: bind.keySecret },
      );
      rows.push(await switches('dns (rfc2136)', adapter, n, bind.port, 'BIND 9.18, TSIG hmac-sha256; clients follow after the TTL'));
    } finally {
      await bind.stop();
    }
  }
  if (kinds.includes('kubernetes-recorded')) {
    log(`kubernetes-recorded: ${n} selector switches against a loopback API stand-in`);
    const api = await startApiStandIn();
    try {
      const adapter = new KubernetesServiceAdapter(
        { kind: 'kubernetes-service', service: 'web', namespace: 'shop', selectorKey: 'slot' },
        new KubeClient({ server: api.url }),
      );
      rows.push(
        await switches(
          'kubernetes-service (API stand-in)',
          adapter,
          n,
          null,
          "cutover's side only (read + merge patch): no API server runs here",
        ),
      );
    } finally {
      await api.close();
    }
  }
  return rows;
}

export function dnsK8sTable(rows: DnsK8sRow[]): string {
  const head = ['adapter', 'switches', 'apply ms med', 'max', 'dig sees ms med', 'max', 'clients follow within', 'note'];
  const body = rows.map((r) => [
    r.adapter,
    String(r.switches),
    r.applyMs.median.toFixed(1),
    r.applyMs.max.toFixed(1),
    r.digSeesMs ? r.digSeesMs.median.toFixed(1) : '-',
    r.digSeesMs ? r.digSeesMs.max.toFixed(1) : '-',
    r.settleAfterMs > 0 ? `${r.settleAfterMs / 1000} s (TTL)` : 'at once',
    r.note,
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  return [head, ...body].map((cols) => cols.map((c, i) => c.padEnd(width[i] as number)).join('  ')).join('\n');
}
