// HTTP/2 written frame by frame, for tests that send what node's client refuses to (abuse, smuggling):
// the connection preface, frame types and flags, a frame, an HPACK integer, and a raw h2 connection
// over TLS that hands every frame the server sends to a callback.
import assert from 'node:assert/strict';
import tls from 'node:tls';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const DATA = 0;
export const HEADERS = 1;
export const RST_STREAM = 3;
export const SETTINGS = 4;
export const GOAWAY = 7;
export const CONTINUATION = 9;
export const END_STREAM = 0x1;
export const END_HEADERS = 0x4;

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** An HPACK integer with a 7-bit prefix (RFC 7541 5.1), for literal lengths. */
export function int7(n: number): Buffer {
  if (n < 127) return Buffer.from([n]);
  const out = [127];
  let v = n - 127;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** One frame from the server: its header fields and payload. */
export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/**
 * An h2 connection to app.test on `port` (ALPN h2 checked), the preface and an empty SETTINGS sent;
 * every whole frame the server sends goes to `onFrame`.
 */
export async function rawH2(port: number, ca: string, onFrame: (f: Frame) => void): Promise<tls.TLSSocket> {
  const s = tls.connect({ host: '127.0.0.1', port, servername: 'app.test', ca, ALPNProtocols: ['h2'] });
  await new Promise((r, j) => s.once('secureConnect', r).once('error', j));
  assert.equal(s.alpnProtocol, 'h2');
  let buf = Buffer.alloc(0);
  s.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
      const len = buf.readUIntBE(0, 3);
      onFrame({
        type: buf[3] as number,
        flags: buf[4] as number,
        stream: buf.readUInt32BE(5) & 0x7fffffff,
        payload: buf.subarray(9, 9 + len),
      });
      buf = buf.subarray(9 + len);
    }
  });
  s.on('error', () => {});
  s.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0)]));
  return s;
}
