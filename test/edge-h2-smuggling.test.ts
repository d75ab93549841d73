// The router tests' smuggling cases, again over HTTP/2 (frames written by hand over real TLS, since
// node's client refuses to send them): a Transfer-Encoding field, a body longer than its
// Content-Length hiding a second request, and a CR LF in a field value never reach the upstream (the
// hidden request never runs, the injected field never arrives); a good stream on the same connection still works.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startEdge } from './edge-helpers.ts';
import { DATA, END_HEADERS, END_STREAM, frame, GOAWAY, HEADERS, RST_STREAM, rawH2 } from './h2-frames.ts';
import { startUpstream, type Upstream, waitFor } from './helpers.ts';
import { makeCa, makeCert, type TestCa } from './tls.ts';

/** `method` (0x82 GET, 0x83 POST) https://app.test/<path>, plus literal fields (short ones: one-byte lengths). */
function block(method: number, path: string, extra: [string, string][] = []): Buffer {
  const parts: Buffer[] = [
    Buffer.from([method, 0x87, 0x04, path.length]),
    Buffer.from(path),
    Buffer.from([0x41, 8]),
    Buffer.from('app.test'),
  ];
  for (const [n, v] of extra) parts.push(Buffer.from([0, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v, 'latin1'));
  return Buffer.concat(parts);
}

interface StreamSeen {
  rst: boolean;
  /** The :status the router answered with (read from HPACK's static table: 200 0x88, 400 0x8c), 0 for none or another. */
  status: number;
}

const STATIC_STATUS: Record<number, number> = { 136: 200, 137: 204, 138: 206, 139: 304, 140: 400, 141: 404, 142: 500 };

/** Opens an h2 connection, writes `frames`, and says per stream whether it was reset or answered; stream 0 is GOAWAY. */
async function send(port: number, ca: string, frames: Buffer[]): Promise<Map<number, StreamSeen>> {
  const streams = new Map<number, StreamSeen>();
  const of = (id: number): StreamSeen => streams.get(id) ?? (streams.set(id, { rst: false, status: 0 }).get(id) as StreamSeen);
  const s = await rawH2(port, ca, (f) => {
    if (f.type === RST_STREAM) of(f.stream).rst = true;
    if (f.type === GOAWAY) of(0).rst = true;
    // Without PADDED or PRIORITY flags the block starts right after the frame header.
    if (f.type === HEADERS && (f.flags & 0x28) === 0) of(f.stream).status = STATIC_STATUS[f.payload[0] as number] ?? -1;
  });
  s.write(Buffer.concat(frames));
  await new Promise((r) => setTimeout(r, 1000));
  s.destroy();
  return streams;
}

describe('HTTP/2 smuggling attempts over TLS', () => {
  let ca: TestCa;
  let up: Upstream;
  const seen: { url: string; injected: boolean; field: string | undefined; body: string }[] = [];
  let edge: Awaited<ReturnType<typeof startEdge>>;

  before(async () => {
    ca = makeCa();
    const cert = makeCert(ca, ['app.test'], 'app');
    up = await startUpstream('blue', (req, res) => {
      const s = {
        url: req.url ?? '',
        injected: req.headers['x-injected'] !== undefined,
        field: req.headers['x-a'] as string | undefined,
        body: '',
      };
      seen.push(s);
      req.setEncoding('latin1');
      req.on('data', (c) => (s.body += c));
      req.on('end', () => res.end('ok'));
      return true;
    });
    edge = await startEdge([
      { name: 'app', edge: { hosts: ['app.test'], stripPrefix: true, tls: { certificate: cert.cert, key: cert.key } }, blue: [up.address] },
    ]);
  });

  after(async () => {
    await edge?.close();
    await up?.close();
    if (ca) rmSync(ca.dir, { recursive: true, force: true });
  });

  it('a Transfer-Encoding field is refused (connection-specific in HTTP/2), and a good stream beside it is answered', async () => {
    const before = seen.length;
    const r = await send(edge.port, ca.pem, [
      frame(HEADERS, END_HEADERS, 1, block(0x83, '/te', [['transfer-encoding', 'chunked']])),
      frame(DATA, END_STREAM, 1, Buffer.from('0\r\n\r\nGET /admin HTTP/1.1\r\nhost: app.test\r\n\r\n')),
      frame(HEADERS, END_HEADERS | END_STREAM, 3, block(0x82, '/good')),
    ]);
    assert.equal(r.get(1)?.rst, true, `stream 1 reset: ${JSON.stringify([...r])}`);
    assert.equal(r.get(3)?.status, 200, 'the good stream is answered');
    await waitFor('the good request', () => seen.slice(before).some((s) => s.url === '/good'));
    assert.deepEqual(
      seen.slice(before).map((s) => s.url),
      ['/good'],
    );
  });

  it('a body longer than its Content-Length, hiding a second request, is refused whole', async () => {
    const before = seen.length;
    const r = await send(edge.port, ca.pem, [
      frame(HEADERS, END_HEADERS, 1, block(0x83, '/cl', [['content-length', '3']])),
      frame(DATA, END_STREAM, 1, Buffer.from('abcGET /admin HTTP/1.1\r\nhost: app.test\r\n\r\n')),
    ]);
    assert.ok(r.get(1)?.rst === true || r.get(0)?.rst === true, `stream reset or connection ended: ${JSON.stringify([...r])}`);
    assert.notEqual(r.get(1)?.status, 200);
    await new Promise((res) => setTimeout(res, 200));
    const got = seen.slice(before);
    assert.ok(!got.some((s) => s.url === '/admin'), `the hidden request never ran: ${JSON.stringify(got)}`);
    assert.ok(
      got.every((s) => s.body.length <= 3),
      `no bytes past the Content-Length reached the upstream: ${JSON.stringify(got)}`,
    );
  });

  it('a CR LF inside a field value never becomes a field upstream: the field is dropped, nothing is injected', async () => {
    const before = seen.length;
    const r = await send(edge.port, ca.pem, [
      frame(HEADERS, END_HEADERS | END_STREAM, 1, block(0x82, '/crlf', [['x-a', 'a\r\nx-injected: 1']])),
    ]);
    await new Promise((res) => setTimeout(res, 200));
    const got = seen.slice(before);
    // Node's HTTP/2 parser (nghttp2) drops a field whose value is invalid rather than resetting the
    // stream; either way the upstream must never get the field or what it hides.
    if (r.get(1)?.rst !== true) assert.equal(r.get(1)?.status, 200, JSON.stringify([...r]));
    assert.ok(
      got.every((g) => !g.injected && g.field === undefined),
      `the upstream got: ${JSON.stringify(got)}`,
    );
  });
});
