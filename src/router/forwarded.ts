// The forwarding fields the router sets on a request it sends upstream (X-Forwarded-For/-Proto/-Host,
// X-Real-IP, Forwarded), one rule for HTTP/1.1 (conn.ts) and HTTP/2 (edge/h2.ts): from a trusted
// proxy (trustedProxies) the chain it sent goes on, with the peer appended; from anyone else what the
// client claimed is dropped and the router's own view is set. The parsers have already taken these
// fields out of the lines they forward.
import type { RequestHead } from './http1.ts';

/** `for=` of a Forwarded element for a peer address (IPv6 quoted in brackets, RFC 7239 6). */
export function forwardedFor(remote: string): string {
  return remote.includes(':') ? `"[${remote}]"` : remote;
}

/** The forwarding header lines (each ending CRLF) for `req` from peer `remote`. */
export function forwardingLines(req: RequestHead, remote: string, forFor: string, proto: string, trusted: boolean): string {
  const host = req.host;
  const own = host === null ? `for=${forFor};proto=${proto}` : `for=${forFor};host="${host}";proto=${proto}`;
  let lines: string;
  if (trusted) {
    lines = `x-forwarded-for: ${req.xForwardedFor === null ? remote : `${req.xForwardedFor}, ${remote}`}\r\n`;
    lines += `x-forwarded-proto: ${req.xForwardedProto ?? proto}\r\n`;
    const xfh = req.xForwardedHost ?? host;
    if (xfh !== null) lines += `x-forwarded-host: ${xfh}\r\n`;
    lines += `x-real-ip: ${req.xRealIp ?? remote}\r\nforwarded: ${req.forwarded === null ? own : `${req.forwarded}, ${own}`}\r\n`;
  } else {
    lines = `x-forwarded-for: ${remote}\r\nx-forwarded-proto: ${proto}\r\n`;
    if (host !== null) lines += `x-forwarded-host: ${host}\r\n`;
    lines += `x-real-ip: ${remote}\r\nforwarded: ${own}\r\n`;
  }
  return lines;
}
