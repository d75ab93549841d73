// HTTP/2 abuse, written frame by frame over real TLS: rapid reset, more streams than allowed, a huge
// HPACK header block and a CONTINUATION flood are each refused (GOAWAY or refused streams), the
// connection is closed, memory stays bounded, and the upstream sees no more than the limits allow.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { H2_DEFAULTS } from '../src/edge/listener.ts';
import { h2Connect, h2Request, startEdge } from './edge-helpers.ts';
import { CONTINUATION, frame, GOAWAY, HEADERS, int7, RST_STREAM, rawH2 } from './h2-frames.ts';
import { startUpstream, type Upstream } from './helpers.ts';
import { makeCa, makeCert, type TestCa } from './tls.ts';

/** GET https://app.test/ (static-table entries), plus literal headers. */
function block(extra: [string, string][] = []): Buffer {
  const parts: Buffer[] = [Buffer.from([0x82, 0x87, 0x84, 0x41, 8]), Buffer.from('app.test')];
  for (const [n, v] of extra) parts.push(Buffer.from([0]), int7(n.length), Buffer.from(n), int7(v.length), Buffer.from(v));
  return Buffer.concat(parts);
}

interface Seen {
  goaway: boolean;
  rst: number;
  /** HEADERS frames from the server: answers. */
  answers: number;
  closed: boolean;
}

/** Opens a raw h2 connection, runs `attack`, then waits up to `ms` for the server's answer. */
async function abuse(
  port: number,
  ca: string,
  attack: (write: (b: Buffer) => Promise<boolean>) => Promise<void>,
  ms = 5000,
): Promise<Seen> {
  const seen: Seen = { goaway: false, rst: 0, answers: 0, closed: false };
  const s = await rawH2(port, ca, (f) => {
    if (f.type === GOAWAY) seen.goaway = true;
    if (f.type === RST_STREAM) seen.rst++;
    if (f.type === HEADERS) seen.answers++;
  });
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  // Writes wait for the socket to drain (bounded), so an attack is not cut short by backpressure.
  const write = async (b: Buffer): Promise<boolean> => {
    if (s.destroyed) return false;
    if (!s.write(b)) await Promise.race([new Promise((r) => s.once('drain', r)), closed, new Promise((r) => setTimeout(r, 1000))]);
    return !s.destroyed;
  };
  await attack(write);
  await Promise.race([closed, new Promise((r) => setTimeout(r, ms))]);
  seen.closed = s.destroyed || s.closed;
  s.destroy();
  return seen;
}

describe('HTTP/2 abuse over TLS', () => {
  let ca: TestCa;
  let up: Upstream;
  let held = 0;
  let huge = 0;
  let edge: Awaited<ReturnType<typeof startEdge>>;

  before(async () => {
    ca = makeCa();
    const cert = makeCert(ca, ['app.test'], 'app');
    up = await startUpstream('blue', (req, res) => {
      if (req.headers['x-huge'] !== undefined || req.url === '/big') huge++;
      if (req.url !== '/hold') return false;
      held++;
      setTimeout(() => res.end('late'), 3000);
      return true;
    });
    edge = await startEdge([
      { name: 'app', edge: { hosts: ['app.test'], stripPrefix: true, tls: { certificate: cert.cert, key: cert.key } }, blue: [up.address] },
    ]);
  });

  after(async () => {
    await edge.close();
    await up.close();
    rmSync(ca.dir, { recursive: true, force: true });
  });

  it('rapid reset (streams opened and reset at once) ends with GOAWAY', async () => {
    const rss = process.memoryUsage().rss;
    const seen = await abuse(edge.port, ca.pem, async (write) => {
      const burst: Buffer[] = [];
      for (let id = 1, n = 0; n < 20_000; id += 2, n++) {
        burst.push(frame(HEADERS, 0x5, id, block()), frame(RST_STREAM, 0, id, Buffer.from([0, 0, 0, 8])));
        if (burst.length >= 1000 && !(await write(Buffer.concat(burst.splice(0))))) return;
      }
    });
    assert.ok(seen.goaway || seen.closed, JSON.stringify(seen));
    assert.ok(process.memoryUsage().rss - rss < 200 * 1024 * 1024, 'memory stayed bounded');
  });

  it('more concurrent streams than allowed are refused; the upstream sees at most the limit', async () => {
    held = 0;
    const seen = await abuse(
      edge.port,
      ca.pem,
      async (write) => {
        const all: Buffer[] = [];
        for (let i = 0; i < 300; i++) all.push(frame(HEADERS, 0x4, 1 + 2 * i, block([[':path', '/hold']])));
        await write(Buffer.concat(all));
      },
      1500,
    );
    assert.ok(seen.rst > 0 || seen.goaway, JSON.stringify(seen));
    assert.ok(held <= H2_DEFAULTS.maxConcurrentStreams, `upstream saw ${held}`);
  });

  it('a huge header block is refused without being buffered', async () => {
    huge = 0;
    // 2 x 12 KB of one header, split over HEADERS and CONTINUATION: over the 16 KB header list limit.
    const seen = await abuse(
      edge.port,
      ca.pem,
      async (write) => {
        const b = block([
          [':path', '/big'],
          ['x-huge', 'a'.repeat(24_000)],
        ]);
        await write(Buffer.concat([frame(HEADERS, 0x1, 1, b.subarray(0, 12_000)), frame(CONTINUATION, 0x4, 1, b.subarray(12_000))]));
      },
      1000,
    );
    // nghttp2 answers it itself (431) or resets it: either way it never becomes a request.
    assert.ok(seen.rst > 0 || seen.goaway || seen.closed || seen.answers > 0, JSON.stringify(seen));
    assert.equal(huge, 0, 'the upstream never saw the request');
  });

  it('a CONTINUATION flood closes the connection', async () => {
    const rss = process.memoryUsage().rss;
    const seen = await abuse(edge.port, ca.pem, async (write) => {
      write(frame(HEADERS, 0x1, 1, block()));
      const piece = frame(
        CONTINUATION,
        0,
        1,
        Buffer.concat([Buffer.from([0]), int7(5), Buffer.from('x-pad'), int7(16_000), Buffer.alloc(16_000, 97)]),
      );
      for (let n = 0; n < 2000 && (await write(piece)); n++);
    });
    assert.ok(seen.goaway || seen.closed, JSON.stringify(seen));
    assert.ok(process.memoryUsage().rss - rss < 200 * 1024 * 1024, 'memory stayed bounded');
  });

  it('after all that, an honest client is still served', async () => {
    const s = await h2Connect(edge.port, 'app.test', ca.pem);
    assert.equal((await h2Request(s, '/')).body, 'blue');
    s.close();
  });
});
