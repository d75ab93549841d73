// The DNS adapter: the record users resolve answers the live slot's addresses. How the record is
// changed is the backend's (PowerDNS API, RFC 2136 update); this file owns what every DNS switch
// shares: which addresses a state means, waiting until the authoritative server answers them (a
// switch is done then, not when the change was accepted), and reading back what it answers.
//
// DNS is eventual: resolvers and clients keep the old answer until its TTL runs out, so the old slot
// keeps serving them for `settleAfter` after a switch (it stays up on standby, so no request fails),
// and analysis of the new slot means something only after that.
import { isIPv4, isIPv6 } from 'node:net';
import { splitHostPort } from '../net/address.ts';
import type { DnsTraffic, SlotName } from '../config/types.ts';
import { CutoverError } from '../errors.ts';
import { DnsExchangeError, queryAddresses, type DnsServer, type RecordType } from './dns-wire.ts';
import { PowerDnsBackend } from './powerdns.ts';
import { Rfc2136Backend } from './rfc2136.ts';
import {
  trafficRefused,
  trafficUnreachable,
  type ObservedTraffic,
  type TrafficAdapter,
  type TrafficCapabilities,
  type TrafficState,
} from './types.ts';

export interface DnsAddress {
  type: RecordType;
  address: string;
}

/** Changes the record at the authority; the adapter confirms the result with a query. */
export interface DnsBackend {
  /** `powerdns` or `rfc2136`, for messages. */
  readonly api: string;
  /** Replaces the A and AAAA records of the name by `addresses`; throws DnsExchangeError or a CutoverError. */
  replace(addresses: DnsAddress[]): Promise<void>;
}

export interface DnsAdapterOptions {
  config: DnsTraffic;
  backend: DnsBackend;
  /** Where the answer is read. */
  nameserver: DnsServer;
  /** ms between confirming queries (tests and the bench poll faster). */
  pollInterval?: number;
}

const POLL_MS = 200;
const QUERY_TIMEOUT_MS = 2000;

/** The addresses a slot's targets put in the record: IPs only (a record cannot carry a port). */
export function recordAddresses(targets: string[]): DnsAddress[] {
  const seen = new Set<string>();
  const out: DnsAddress[] = [];
  for (const target of targets) {
    const { host } = splitHostPort(target);
    if (!isIPv4(host) && !isIPv6(host))
      throw new RangeError(`target ${target} is a host name; a DNS switch needs IP addresses in the slot's targets`);
    if (seen.has(host)) continue;
    seen.add(host);
    out.push({ type: isIPv6(host) ? 'AAAA' : 'A', address: host });
  }
  return out;
}

const sameSet = (a: string[], b: string[]): boolean => a.length === b.length && a.every((x) => b.includes(x));

export class DnsAdapter implements TrafficAdapter {
  readonly kind = 'dns';
  /** Lossless as long as the old slot outlives the TTL (standby does); never weighted; eventual. */
  readonly capabilities: TrafficCapabilities = { lossless: true, weighted: false, eventual: true };
  /** ms after a switch until clients follow it: the record's TTL. Analysis should start after this. */
  readonly settleAfter: number;
  readonly #config: DnsTraffic;
  readonly #backend: DnsBackend;
  readonly #nameserver: DnsServer;
  readonly #poll: number;
  /** The last state applied: observe() tells the slots apart by their addresses in it. */
  #state: TrafficState | null = null;

  constructor(opts: DnsAdapterOptions) {
    this.#config = opts.config;
    this.#backend = opts.backend;
    this.#nameserver = opts.nameserver;
    this.#poll = opts.pollInterval ?? POLL_MS;
    this.settleAfter = opts.config.ttl * 1000;
  }

  async apply(state: TrafficState): Promise<void> {
    const { record } = this.#config;
    if (state.live === null) {
      // Nothing is live yet: whatever the record answers now is left alone.
      this.#state = state;
      return;
    }
    const other: SlotName = state.live === 'blue' ? 'green' : 'blue';
    if (state.weights[other] > 0 && state.weights[state.live] > 0)
      throw trafficRefused('dns', `${record} cannot split traffic by weights; use shift: instant with traffic kind dns`);
    let wanted: DnsAddress[];
    let otherHosts: DnsAddress[];
    try {
      wanted = recordAddresses(state.slots[state.live].targets);
      otherHosts = recordAddresses(state.slots[other].targets);
    } catch (err) {
      throw trafficRefused('dns', (err as Error).message, err);
    }
    if (wanted.length === 0) throw trafficRefused('dns', `slot ${state.live} has no targets to put in ${record}`);
    const shared = wanted.filter((w) => otherHosts.some((o) => o.address === w.address));
    if (shared.length > 0)
      throw trafficRefused(
        'dns',
        `blue and green share ${shared.map((s) => s.address).join(', ')}; DNS tells slots apart by address only, so give each slot its own IPs`,
      );
    const addresses = wanted.map((w) => w.address);
    // Most route changes (preview, a slot's targets while idle) leave the live slot as it is: the
    // record is changed only when the authority answers something else, so drift is still repaired.
    const now = await queryAddresses(this.#nameserver, record, QUERY_TIMEOUT_MS).catch(() => null);
    if (now?.rcode !== 'NOERROR' || !sameSet(now.addresses, addresses)) {
      try {
        await this.#backend.replace(wanted);
      } catch (err) {
        throw this.#coded(err, `updating ${record}`);
      }
      await this.#confirm(addresses);
    }
    this.#state = state;
  }

  /** Polls the authoritative server until it answers exactly `addresses`, within the configured timeout. */
  async #confirm(addresses: string[]): Promise<void> {
    const deadline = Date.now() + this.#config.timeout;
    let last = '';
    for (;;) {
      try {
        const answer = await queryAddresses(this.#nameserver, this.#config.record, QUERY_TIMEOUT_MS);
        if (answer.rcode === 'NOERROR' && sameSet(answer.addresses, addresses)) return;
        last = answer.rcode === 'NOERROR' ? `it answers ${answer.addresses.join(', ') || 'no address'}` : `it answers ${answer.rcode}`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() >= deadline)
        throw new CutoverError(
          'CUTOVER_E_SWITCH_TIMEOUT',
          `dns: ${this.#backend.api} accepted the change of ${this.#config.record}, but after ${this.#config.timeout} ms the nameserver ${this.#where()} still does not answer ${addresses.join(', ')} (${last}); check that it serves the zone ${this.#config.zone}, or raise traffic.timeout`,
          504,
        );
      await new Promise((r) => setTimeout(r, this.#poll));
    }
  }

  async observe(): Promise<ObservedTraffic> {
    let answer: Awaited<ReturnType<typeof queryAddresses>>;
    try {
      answer = await queryAddresses(this.#nameserver, this.#config.record, QUERY_TIMEOUT_MS);
    } catch (err) {
      throw this.#coded(err, `reading ${this.#config.record}`);
    }
    const targets: Record<SlotName, string[]> = { blue: [], green: [] };
    const owner: Partial<Record<SlotName, boolean>> = {};
    const state = this.#state;
    for (const slot of ['blue', 'green'] as const) {
      const slotTargets = state?.slots[slot].targets ?? [];
      // A record has no ports: an answered address stands for every target of the slot on that host.
      targets[slot] = slotTargets.filter((t) => answer.addresses.includes(hostOf(t)));
      owner[slot] = slotTargets.length > 0 && sameSet([...new Set(slotTargets.map(hostOf))], answer.addresses);
    }
    const weights = owner.blue ? { blue: 100, green: 0 } : owner.green ? { blue: 0, green: 100 } : null;
    const detail =
      answer.rcode === 'NOERROR'
        ? `${this.#config.record} answers ${answer.addresses.join(', ') || 'no address'}${answer.ttl === null ? '' : ` (TTL ${answer.ttl}s)`} at ${this.#where()}`
        : `${this.#config.record} answers ${answer.rcode} at ${this.#where()}`;
    return {
      weights,
      targets,
      detail,
      notes: [
        `a switch is seen by clients only once their cached answer expires: up to ${this.#config.ttl}s, longer behind resolvers that stretch TTLs`,
      ],
    };
  }

  async close(): Promise<void> {}

  #where(): string {
    return `${this.#nameserver.host}:${this.#nameserver.port}`;
  }

  #coded(err: unknown, doing: string): CutoverError {
    if (err instanceof CutoverError) return err;
    if (err instanceof DnsExchangeError)
      return err.kind === 'unreachable'
        ? trafficUnreachable('dns', `${doing}: ${err.message}`, err)
        : trafficRefused('dns', `${doing}: ${err.message}`, err);
    return trafficUnreachable('dns', `${doing}: ${(err as Error).message}`, err);
  }
}

function hostOf(target: string): string {
  return splitHostPort(target).host;
}

/**
 * The DNS adapter a `traffic: { kind: dns }` section describes. Secrets come from the environment
 * variables the config names; a missing one is refused here, before anything is switched.
 */
export function createDnsAdapter(config: DnsTraffic, env: NodeJS.ProcessEnv = process.env): DnsAdapter {
  const secretOf = (variable: string, what: string): string => {
    const value = env[variable];
    if (value === undefined || value.trim() === '')
      throw new CutoverError(
        'CUTOVER_E_CONFIG_INVALID',
        `dns: the environment variable ${variable} (the ${what}) is not set; set it for the daemon and start it again`,
        400,
      );
    return value.trim();
  };
  if (config.api === 'powerdns') {
    const backend = new PowerDnsBackend(config, secretOf(config.apiKeyEnv, 'PowerDNS API key'));
    const nameserver = config.nameserver
      ? splitHostPort(config.nameserver)
      : { host: new URL(config.server).hostname.replace(/^\[|\]$/g, ''), port: 53 };
    return new DnsAdapter({ config, backend, nameserver });
  }
  const backend = new Rfc2136Backend(config, secretOf(config.tsig.secretEnv, `TSIG secret of ${config.tsig.name}`));
  return new DnsAdapter({ config, backend, nameserver: splitHostPort(config.nameserver ?? config.server) });
}
