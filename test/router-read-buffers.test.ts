// The router reads each upstream connection into one reused buffer (pool.ts, net's onread): these
// check that no answer is ever corrupted by that reuse, where the bytes outlive the read that
// carried them (a slow client with writes queued, a head split over reads, keep-alive answers one
// after the other on the same upstream connection).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Router } from '../src/router/router.ts';
import { freePort, testRouterOptions } from './helpers.ts';

const BIG = randomBytes(3 * 1024 * 1024 + 17);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const TRICKLE = randomBytes(12 * 1024 * 1024);

/**
 * A raw upstream: `/big` (Content-Length, in 64 KiB writes), `/big-chunked`, `/trickle` (12 MiB in
 * 4 KiB writes, one per turn of the event loop: the router reads each alone) and `/split/N` (head in
 * two writes, body "body-N").
 */
async function rawUpstream(): Promise<{ address: string; close(): Promise<void> }> {
  const server = net.createServer((s) => {
    let pending = '';
    s.on('data', (d) => {
      pending += d.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const path = pending.slice(0, end).split(' ')[1] ?? '/';
        pending = pending.slice(end + 4);
        answer(s, path);
      }
    });
    s.on('error', () => {});
  });
  const answer = (s: net.Socket, path: string): void => {
    if (path === '/big' || path === '/big-chunked') {
      const chunked = path === '/big-chunked';
      s.write(
        `HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n${chunked ? 'transfer-encoding: chunked' : `content-length: ${BIG.length}`}\r\n\r\n`,
      );
      for (let i = 0; i < BIG.length; i += 65536) {
        const piece = BIG.subarray(i, i + 65536);
        if (chunked) s.write(`${piece.length.toString(16)}\r\n`);
        s.write(piece);
        if (chunked) s.write('\r\n');
      }
      if (chunked) s.write('0\r\n\r\n');
      return;
    }
    if (path === '/trickle') {
      s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${TRICKLE.length}\r\n\r\n`);
      let i = 0;
      const next = (): void => {
        if (i >= TRICKLE.length || s.destroyed) return;
        s.write(TRICKLE.subarray(i, (i += 4096)));
        setImmediate(next);
      };
      next();
      return;
    }
    const body = `body-${path.split('/')[2]}`;
    const head = `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n`;
    // The head in two writes a little apart: the router reads it in two reads.
    s.write(head.slice(0, 20));
    setTimeout(() => s.write(head.slice(20) + body), 15);
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** GETs `path` over a fresh connection, reading slowly (paused 5 ms after every 256 KiB, or first `wait` ms): the body as received. */
function slowGet(port: number, path: string, wait = 0): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    if (wait > 0) {
      s.pause();
      setTimeout(() => s.resume(), wait);
    }
    const parts: Buffer[] = [];
    let since = 0;
    s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`));
    s.on('data', (d: Buffer) => {
      parts.push(d);
      since += d.length;
      if (since > 262144) {
        since = 0;
        s.pause();
        setTimeout(() => s.resume(), 5);
      }
    });
    s.on('error', reject);
    s.on('close', () => {
      const all = Buffer.concat(parts);
      const head = all.indexOf('\r\n\r\n');
      resolve(all.subarray(head + 4));
    });
  });
}

/** Removes chunked framing (test-side, sizes only: no extensions, no trailers). */
function unchunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', i);
    const size = Number.parseInt(b.toString('latin1', i, eol), 16);
    if (size === 0) return Buffer.concat(out);
    out.push(b.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
}

describe('answers read through the reused upstream buffer arrive intact', () => {
  let up: Awaited<ReturnType<typeof rawUpstream>>;
  let router: Router;
  let port: number;

  before(async () => {
    up = await rawUpstream();
    port = await freePort();
    router = new Router(testRouterOptions(port, { responseTimeout: 10000 }));
    await router.listen();
    router.apply({
      service: 'web',
      generation: 1,
      live: 'blue',
      weights: { blue: 100, green: 0 },
      slots: { blue: { version: 'v1', targets: [up.address] }, green: { version: null, targets: [] } },
    });
    router.setHealth(up.address, true);
  });
  after(async () => {
    await router.close();
    await up.close();
  });

  test('a 3 MB answer with Content-Length to a client that reads slowly arrives byte for byte', async () => {
    const [a, b] = await Promise.all([slowGet(port, '/big'), slowGet(port, '/big')]);
    assert.equal(a.length, BIG.length);
    assert.equal(sha(a), sha(BIG));
    assert.equal(sha(b), sha(BIG));
  });

  test('a 3 MB chunked answer to a client that reads slowly arrives byte for byte', async () => {
    const body = unchunk(await slowGet(port, '/big-chunked'));
    assert.equal(body.length, BIG.length);
    assert.equal(sha(body), sha(BIG));
  });

  test('a 12 MB answer that trickles in 4 KB reads to a client that reads nothing for a while arrives byte for byte', async () => {
    // The client's socket fills: the router's writes queue behind it while the upstream's reads go on.
    const body = await slowGet(port, '/trickle', 1500);
    assert.equal(body.length, TRICKLE.length);
    assert.equal(sha(body), sha(TRICKLE));
  });

  test('fifty keep-alive answers whose heads come in two reads each get their own body', async () => {
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    for (let i = 0; i < 50; i++) {
      const before = got.length;
      s.write(`GET /split/${i} HTTP/1.1\r\nHost: t\r\n\r\n`);
      const deadline = Date.now() + 5000;
      while (!got.slice(before).endsWith(`body-${i}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
      assert.match(
        got.slice(before),
        new RegExp(`^HTTP/1\\.1 200 OK\\r\\ncontent-type: text/plain\\r\\ncontent-length: ${`body-${i}`.length}\\r\\n\\r\\nbody-${i}$`),
      );
    }
    s.destroy();
  });
});
