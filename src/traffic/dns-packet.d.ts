// The part of dns-packet's API the DNS adapters use (the package ships no types; DefinitelyTyped's
// lack the name codec and the decoded rcode). Records of a type without an encoder (`UNKNOWN_<n>`,
// TSIG) carry their RDATA as raw bytes.
declare module 'dns-packet' {
  interface Question {
    type: string;
    name: string;
    class?: string;
  }
  interface Record {
    type: string;
    name: string;
    class?: string;
    ttl?: number;
    data: string | Buffer;
  }
  interface Packet {
    type?: 'query' | 'response';
    id?: number;
    flags?: number;
    questions?: Question[];
    answers?: Record[];
    authorities?: Record[];
    additionals?: Record[];
  }
  interface DecodedPacket extends Packet {
    rcode: string;
  }
  export function encode(packet: Packet): Buffer;
  export function decode(buf: Buffer): DecodedPacket;
  export const name: {
    encode(name: string): Buffer;
    decode: ((buf: Buffer, offset: number) => string) & { bytes: number };
  };
}
