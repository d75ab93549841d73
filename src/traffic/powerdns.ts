// The PowerDNS HTTP API: the backend of the DNS adapter for PowerDNS Authoritative. One PATCH of the
// zone replaces the record's A and AAAA RRsets (REPLACE, or DELETE for a family the slot has none
// of); PowerDNS purges its caches for the zone, so its next answer is the new one.
import type { PowerDnsTraffic } from '../config/types.ts';
import { trafficRefused, trafficUnreachable } from './types.ts';
import type { DnsAddress, DnsBackend } from './dns.ts';

const REQUEST_TIMEOUT_MS = 5000;

export class PowerDnsBackend implements DnsBackend {
  readonly api = 'powerdns';
  readonly #config: PowerDnsTraffic;
  readonly #apiKey: string;

  /** `apiKey`: read by the caller from `apiKeyEnv`. */
  constructor(config: PowerDnsTraffic, apiKey: string) {
    this.#config = config;
    this.#apiKey = apiKey;
  }

  /** The body of the PATCH for `addresses` (exported for its unit test). */
  static body(config: Pick<PowerDnsTraffic, 'record' | 'ttl'>, addresses: DnsAddress[]): unknown {
    return {
      rrsets: (['A', 'AAAA'] as const).map((type) => {
        const records = addresses.filter((a) => a.type === type).map((a) => ({ content: a.address, disabled: false }));
        return records.length > 0
          ? { name: config.record, type, ttl: config.ttl, changetype: 'REPLACE', records }
          : { name: config.record, type, changetype: 'DELETE' };
      }),
    };
  }

  async replace(addresses: DnsAddress[]): Promise<void> {
    const c = this.#config;
    const url = `${c.server}/api/v1/servers/${encodeURIComponent(c.serverId)}/zones/${encodeURIComponent(c.zone)}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', 'x-api-key': this.#apiKey },
        body: JSON.stringify(PowerDnsBackend.body(c, addresses)),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as Error & { cause?: Error }).cause;
      throw trafficUnreachable('dns', `cannot reach the PowerDNS API at ${c.server}: ${cause?.message ?? (err as Error).message}`, err);
    }
    if (res.status === 204 || res.ok) return;
    const text = await res.text().catch(() => '');
    let reason = text.slice(0, 300);
    try {
      reason = (JSON.parse(text) as { error?: string }).error ?? reason;
    } catch {}
    const hint =
      res.status === 401 || res.status === 403
        ? `; check the key in ${c.apiKeyEnv}`
        : res.status === 404
          ? `; check that zone ${c.zone} exists on server ${c.serverId}`
          : '';
    throw trafficRefused('dns', `PowerDNS refused the change of ${c.record} (HTTP ${res.status}: ${reason})${hint}`);
  }
}
