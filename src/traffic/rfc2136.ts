// RFC 2136 dynamic updates signed with TSIG: the backend of the DNS adapter for BIND (and any primary
// that takes updates: Knot, PowerDNS with dnsupdate=yes). One UPDATE message replaces the record's A
// and AAAA RRsets at once; the server applies all of it or none.
import { splitHostPort } from '../net/address.ts';
import type { Rfc2136Traffic } from '../config/types.ts';
import type { DnsAddress, DnsBackend } from './dns.ts';
import { updateAddresses, type DnsServer, type TsigKey } from './dns-wire.ts';

export class Rfc2136Backend implements DnsBackend {
  readonly api = 'rfc2136';
  readonly #config: Rfc2136Traffic;
  readonly #server: DnsServer;
  readonly #key: TsigKey;

  /** `secret`: the TSIG key's base64 secret, read by the caller from `tsig.secretEnv`. */
  constructor(config: Rfc2136Traffic, secret: string) {
    this.#config = config;
    this.#server = splitHostPort(config.server);
    this.#key = { name: config.tsig.name, algorithm: config.tsig.algorithm, secret };
  }

  replace(addresses: DnsAddress[]): Promise<void> {
    const c = this.#config;
    return updateAddresses(this.#server, this.#key, c.zone, c.record, addresses, c.ttl, c.timeout);
  }
}
