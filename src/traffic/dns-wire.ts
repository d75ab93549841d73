// DNS on the wire for the DNS adapters: an authoritative query, and an RFC 2136 UPDATE signed with
// TSIG (RFC 8945, HMAC-SHA256) whose answer's signature is checked too. Messages are encoded and
// decoded with `dns-packet`; it has no TSIG, so the signature (RDATA and MAC input) is written here.
// Everything goes over TCP: a refused connection is an immediate, clear error, and there is no
// retransmission to reason about.
import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import * as packet from 'dns-packet';

export interface TsigKey {
  /** The key's name as the server knows it, like `cutover.` */
  name: string;
  /** Only hmac-sha256 is written; it is what `tsig-keygen` makes by default. */
  algorithm: 'hmac-sha256';
  /** The shared secret, base64 as `tsig-keygen` prints it. */
  secret: string;
}

export interface DnsServer {
  host: string;
  port: number;
}

export type RecordType = 'A' | 'AAAA';

export interface RecordAnswer {
  rcode: string;
  authoritative: boolean;
  /** Addresses answered for the name (A and AAAA), in the order the server gave them. */
  addresses: string[];
  /** The TTL of the answer (the smallest of its records); null without an answer. */
  ttl: number | null;
}

/** Why a DNS exchange failed: the server could not be reached, or it answered with a refusal. */
export class DnsExchangeError extends Error {
  readonly kind: 'unreachable' | 'refused';
  constructor(kind: 'unreachable' | 'refused', message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DnsExchangeError';
    this.kind = kind;
  }
}

const TYPE_TSIG = 250;
const CLASS_ANY = 255;
const FUDGE_SECONDS = 300;
const OPCODE_UPDATE = 5 << 11;
const TSIG_ERRORS: Record<number, string> = { 16: 'BADSIG', 17: 'BADKEY', 18: 'BADTIME', 22: 'BADTRUNC' };

const fqdn = (name: string): string => (name.endsWith('.') ? name : `${name}.`).toLowerCase();

/** A name in uncompressed wire form, lowercase: the canonical form a TSIG MAC covers. */
function wireName(name: string): Buffer {
  return packet.name.encode(fqdn(name));
}

/** Asks `server` for the A and AAAA records of `name` (two queries on one TCP connection). */
export async function queryAddresses(server: DnsServer, name: string, timeoutMs: number): Promise<RecordAnswer> {
  const ask = (type: RecordType) =>
    packet.encode({ type: 'query', id: randomInt(65536), flags: 0, questions: [{ type, name: fqdn(name), class: 'IN' }] });
  const replies = await exchange(server, [ask('A'), ask('AAAA')], timeoutMs);
  let rcode = 'NOERROR';
  let authoritative = true;
  let ttl: number | null = null;
  const addresses: string[] = [];
  for (const raw of replies) {
    const reply = packet.decode(raw);
    if (reply.rcode !== 'NOERROR') rcode = reply.rcode;
    authoritative &&= (((reply.flags ?? 0) >> 10) & 1) === 1;
    for (const a of reply.answers ?? []) {
      if ((a.type === 'A' || a.type === 'AAAA') && fqdn(a.name) === fqdn(name)) {
        addresses.push(String(a.data));
        ttl = ttl === null ? (a.ttl ?? 0) : Math.min(ttl, a.ttl ?? 0);
      }
    }
  }
  return { rcode, authoritative, addresses, ttl };
}

/**
 * Replaces the A and AAAA records of `name` in `zone` by `addresses` in one UPDATE (RFC 2136 3.4:
 * delete both RRsets, then add every address; the server applies the whole message or none of it).
 */
export async function updateAddresses(
  server: DnsServer,
  key: TsigKey,
  zone: string,
  name: string,
  addresses: { type: RecordType; address: string }[],
  ttl: number,
  timeoutMs: number,
): Promise<void> {
  // dns-packet has no encoder for an empty RDATA of a known type; `UNKNOWN_<n>` takes raw bytes.
  const deleteRRset = (type: number) => ({ type: `UNKNOWN_${type}`, name: fqdn(name), class: 'ANY', ttl: 0, data: Buffer.alloc(0) });
  const message: packet.Packet = {
    type: 'query',
    id: randomInt(65536),
    flags: OPCODE_UPDATE,
    questions: [{ type: 'SOA', name: fqdn(zone), class: 'IN' }],
    answers: [],
    authorities: [
      deleteRRset(1),
      deleteRRset(28),
      ...addresses.map((a) => ({ type: a.type, name: fqdn(name), class: 'IN', ttl, data: a.address })),
    ],
    additionals: [],
  };
  const unsigned = packet.encode(message);
  const signed = signTsig(unsigned, key, Math.floor(Date.now() / 1000));
  const [raw] = await exchange(server, [signed.message], timeoutMs);
  const reply = checkTsig(raw!, key, signed.mac);
  if (reply.rcode !== 'NOERROR')
    throw new DnsExchangeError(
      'refused',
      `the server answered the update with ${reply.rcode}${reply.tsigError ? ` (${reply.tsigError})` : ''}`,
    );
}

/** TSIG variables (RFC 8945 4.3.3) after the message: key name, class, TTL, algorithm, time, fudge, error, other. */
function tsigVariables(key: TsigKey, time: number, error: number): Buffer {
  const fixed = Buffer.alloc(6);
  fixed.writeUInt16BE(CLASS_ANY, 0);
  fixed.writeUInt32BE(0, 2);
  const timers = Buffer.alloc(12);
  timers.writeUIntBE(time, 0, 6);
  timers.writeUInt16BE(FUDGE_SECONDS, 6);
  timers.writeUInt16BE(error, 8);
  timers.writeUInt16BE(0, 10);
  return Buffer.concat([wireName(key.name), fixed, wireName(key.algorithm), timers]);
}

/** Appends a TSIG record to `message` (an encoded message without one); returns it and its MAC. */
export function signTsig(message: Buffer, key: TsigKey, time: number): { message: Buffer; mac: Buffer } {
  const secret = Buffer.from(key.secret, 'base64');
  const mac = createHmac('sha256', secret)
    .update(message)
    .update(tsigVariables(key, time, 0))
    .digest();
  const algorithm = wireName(key.algorithm);
  const rdata = Buffer.alloc(algorithm.length + 16 + mac.length);
  let o = algorithm.copy(rdata, 0);
  rdata.writeUIntBE(time, o, 6);
  rdata.writeUInt16BE(FUDGE_SECONDS, o + 6);
  rdata.writeUInt16BE(mac.length, o + 8);
  o += 10 + mac.copy(rdata, o + 10);
  rdata.writeUInt16BE(message.readUInt16BE(0), o); // original id
  rdata.writeUInt16BE(0, o + 2); // error
  rdata.writeUInt16BE(0, o + 4); // other len
  const owner = wireName(key.name);
  const rr = Buffer.alloc(owner.length + 10);
  owner.copy(rr, 0);
  rr.writeUInt16BE(TYPE_TSIG, owner.length);
  rr.writeUInt16BE(CLASS_ANY, owner.length + 2);
  rr.writeUInt32BE(0, owner.length + 4);
  rr.writeUInt16BE(rdata.length, owner.length + 8);
  const out = Buffer.concat([message, rr, rdata]);
  out.writeUInt16BE(message.readUInt16BE(10) + 1, 10); // one more additional record
  return { message: out, mac };
}

interface TsigReply {
  rcode: string;
  tsigError: string | null;
}

/**
 * Checks the server's TSIG on a reply to a request whose MAC was `requestMac` (RFC 8945 5.3): an
 * unsigned or badly signed answer is not trusted, whatever it says. An unsigned NOTAUTH or REFUSED
 * (the server did not know the key) is reported as that refusal.
 */
export function checkTsig(raw: Buffer, key: TsigKey, requestMac: Buffer): TsigReply {
  const reply = packet.decode(raw);
  const rcode = reply.rcode;
  const last = reply.additionals?.at(-1);
  if (last?.type !== 'TSIG') {
    if (rcode !== 'NOERROR') return { rcode, tsigError: null };
    throw new DnsExchangeError('refused', 'the server answered the update without a TSIG signature; check its key configuration');
  }
  const data = last.data as Buffer;
  const alg = packet.name.decode(data, 0);
  let o = packet.name.decode.bytes;
  const time = data.readUIntBE(o, 6);
  const macSize = data.readUInt16BE(o + 8);
  const mac = data.subarray(o + 10, o + 10 + macSize);
  o += 10 + macSize;
  const originalId = data.readUInt16BE(o);
  const error = data.readUInt16BE(o + 2);
  const tsigError = error === 0 ? null : (TSIG_ERRORS[error] ?? `TSIG error ${error}`);
  if (error === 16 || error === 17 || macSize === 0) return { rcode: rcode === 'NOERROR' ? 'NOTAUTH' : rcode, tsigError };
  if (fqdn(last.name) !== fqdn(key.name) || fqdn(alg) !== fqdn(key.algorithm))
    throw new DnsExchangeError('refused', `the server signed its answer with another key (${last.name} ${alg})`);
  // The TSIG record is the last one and its owner name is not compressed (RFC 8945 4.2).
  const rrLength = wireName(last.name).length + 10 + data.length;
  const body = Buffer.from(raw.subarray(0, raw.length - rrLength));
  body.writeUInt16BE(originalId, 0);
  body.writeUInt16BE(body.readUInt16BE(10) - 1, 10);
  const macLength = Buffer.alloc(2);
  macLength.writeUInt16BE(requestMac.length);
  const expected = createHmac('sha256', Buffer.from(key.secret, 'base64'))
    .update(macLength)
    .update(requestMac)
    .update(body)
    .update(tsigVariables(key, time, error))
    .digest();
  if (expected.length !== mac.length || !timingSafeEqual(expected, mac))
    throw new DnsExchangeError('refused', 'the signature on the server answer does not verify; the answer is not trusted');
  return { rcode, tsigError };
}

/** Sends each message over one TCP connection (2-byte length framing) and returns the answers in order. */
function exchange(server: DnsServer, messages: Buffer[], timeoutMs: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const where = `${server.host}:${server.port}`;
    const socket = net.connect({ host: server.host, port: server.port });
    const answers: Buffer[] = [];
    let buffered = Buffer.alloc(0);
    const done = (err: Error | null) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(answers);
    };
    const timer = setTimeout(
      () => done(new DnsExchangeError('unreachable', `no answer from the DNS server at ${where} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('connect', () => {
      for (const m of messages) {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(m.length);
        socket.write(Buffer.concat([len, m]));
      }
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const len = buffered.readUInt16BE(0);
        answers.push(buffered.subarray(2, 2 + len));
        buffered = buffered.subarray(2 + len);
      }
      // Answers to one connection come back in the order asked; match them by id all the same.
      if (answers.length === messages.length) {
        const ids = messages.map((m) => m.readUInt16BE(0));
        answers.sort((a, b) => ids.indexOf(a.readUInt16BE(0)) - ids.indexOf(b.readUInt16BE(0)));
        done(null);
      }
    });
    socket.on('error', (err) =>
      done(new DnsExchangeError('unreachable', `cannot reach the DNS server at ${where}: ${err.message}`, { cause: err })),
    );
    socket.on('close', () => {
      if (answers.length < messages.length)
        done(new DnsExchangeError('unreachable', `the DNS server at ${where} closed the connection without answering`));
    });
  });
}
