// Reads the server name and ALPN protocols from a TLS ClientHello before the handshake starts. Only
// used while an ACME TLS-ALPN-01 challenge is pending: the challenge certificate must go to the ACME
// server's `acme-tls/1` handshake and never to a browser asking for the same name.

export interface ClientHello {
  servername: string;
  alpn: string[];
}

/** `more` when the hello is not complete yet, null when this is not a TLS ClientHello. */
export function parseClientHello(buf: Buffer): ClientHello | 'more' | null {
  if (buf.length < 5) return 'more';
  if (buf[0] !== 22 || buf[1] !== 3) return null; // handshake record, TLS 1.x
  const recordLen = buf.readUInt16BE(3);
  if (buf.length < 5 + recordLen) return 'more';
  const b = buf.subarray(5, 5 + recordLen);
  if (b[0] !== 1 || b.length < 4) return null; // ClientHello
  let i = 4 + 2 + 32; // handshake header, version, random
  if (i >= b.length) return null;
  i += 1 + (b[i] as number); // session id
  if (i + 2 > b.length) return null;
  i += 2 + b.readUInt16BE(i); // cipher suites
  if (i >= b.length) return null;
  i += 1 + (b[i] as number); // compression methods
  if (i + 2 > b.length) return { servername: '', alpn: [] };
  const end = Math.min(b.length, i + 2 + b.readUInt16BE(i));
  i += 2;
  const out: ClientHello = { servername: '', alpn: [] };
  while (i + 4 <= end) {
    const type = b.readUInt16BE(i);
    const len = b.readUInt16BE(i + 2);
    const ext = b.subarray(i + 4, Math.min(end, i + 4 + len));
    i += 4 + len;
    if (type === 0 && ext.length >= 5 && ext[2] === 0) {
      const n = ext.readUInt16BE(3);
      out.servername = ext.toString('latin1', 5, 5 + n).toLowerCase();
    } else if (type === 16 && ext.length >= 2) {
      for (let j = 2; j < ext.length; ) {
        const n = ext[j] as number;
        out.alpn.push(ext.toString('latin1', j + 1, j + 1 + n));
        j += 1 + n;
      }
    }
  }
  return out;
}
