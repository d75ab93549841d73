// The router reads every plain-TCP client connection into one buffer shared by the process
// (client-reads.ts, net's onread): these check that no request is ever corrupted by that sharing
// where its bytes outlive the read that carried them. Many clients at once, so other connections'
// reads overwrite the buffer between any one connection's reads: heads split over reads, pipelined
// requests, bodies in odd pieces to an upstream that reads slowly (the router's writes queue),
// a head the response's compression reads after other reads, and requests held while paused.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { readShared, sharedClientReads } from '../src/router/client-reads.ts';
import { Router } from '../src/router/router.ts';
import type { RouteSpec } from '../src/router/table.ts';
import { freePort, testRouterOptions } from './helpers.ts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/**
 * A raw upstream that answers each request with `id=<x-id> path=<path> ae=<accept-encoding>
 * sha=<sha256 of the body>` (text/plain, padded past the compression threshold), after `x-delay` ms.
 * It reads bodies slowly (pauses 5 ms after every 64 KiB), so the router's writes queue behind it.
 */
async function echoUpstream(): Promise<{ address: string; close(): Promise<void> }> {
  const server = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    let since = 0;
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      since += d.length;
      if (since > 65536) {
        since = 0;
        s.pause();
        setTimeout(() => s.resume(), 5);
      }
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        const body = buf.subarray(end + 4, end + 4 + length);
        buf = buf.subarray(end + 4 + length);
        const header = (name: string): string => new RegExp(`\\r\\n${name}: *([^\\r]*)`, 'i').exec(head)?.[1] ?? '-';
        const text = `id=${header('x-id')} path=${head.split(' ')[1]} ae=${header('accept-encoding')} sha=${sha(body)} `.padEnd(2048, '.');
        const answer = `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${text.length}\r\n\r\n${text}`;
        const delay = Number(header('x-delay')) || 0;
        if (delay > 0) setTimeout(() => s.write(answer), delay);
        else s.write(answer);
      }
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Writes `data` in pieces of random size (1 byte to 9 KiB), a turn of the event loop apart. */
async function dribble(s: net.Socket, data: Buffer): Promise<void> {
  for (let i = 0; i < data.length; ) {
    const n = 1 + Math.floor(Math.random() * 9216);
    s.write(data.subarray(i, (i += n)));
    await new Promise((r) => setImmediate(r));
  }
}

/** A chunked body from `at` on (sizes only, no extensions or trailers): the body and where it ends, or null while incomplete. */
function unchunk(b: Buffer, at: number): [Buffer | null, number] {
  const out: Buffer[] = [];
  for (let i = at; ; ) {
    const eol = b.indexOf('\r\n', i);
    if (eol < 0) return [null, 0];
    const size = Number.parseInt(b.toString('latin1', i, eol), 16);
    if (b.length < eol + 2 + size + 2) return [null, 0];
    if (size === 0) return [Buffer.concat(out), eol + 4];
    out.push(b.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
}

/** Reads `count` answers from a keep-alive connection: each one's head and body. */
function answers(s: net.Socket, count: number): Promise<{ head: string; body: Buffer }[]> {
  return new Promise((resolve, reject) => {
    const out: { head: string; body: Buffer }[] = [];
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error(`only ${out.length} of ${count} answers within 20 s`)), 20_000);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end);
        let body: Buffer | null;
        let used: number;
        if (/\r\ntransfer-encoding: chunked/i.test(head)) {
          [body, used] = unchunk(buf, end + 4);
        } else {
          const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? -1);
          assert.ok(length >= 0, `an answer without a length: ${head}`);
          body = buf.length < end + 4 + length ? null : buf.subarray(end + 4, end + 4 + length);
          used = end + 4 + length;
        }
        if (body === null) return;
        out.push({ head, body });
        buf = buf.subarray(used);
        if (out.length === count) {
          clearTimeout(timer);
          resolve(out);
        }
      }
    });
    s.on('error', reject);
  });
}

const text = (a: { head: string; body: Buffer }): string =>
  (/content-encoding: gzip/i.test(a.head) ? gunzipSync(a.body) : a.body).toString('latin1');

function spec(address: string, extra: Partial<RouteSpec> = {}): RouteSpec {
  return {
    service: 'web',
    generation: 1,
    live: 'blue',
    weights: { blue: 100, green: 0 },
    slots: { blue: { version: 'v1', targets: [address] }, green: { version: null, targets: [] } },
    ...extra,
  };
}

test('accepted plain-TCP sockets read into the shared buffer on the Node this project runs on', async () => {
  // If Node stops honouring the onread keys, the router falls back to 'data' events: this says so.
  assert.equal(sharedClientReads, true);
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const got = new Promise<string>((resolve) =>
    server.once('connection', (s) => {
      assert.equal(
        readShared(s, (n, b) => resolve(b.toString('latin1', 0, n))),
        true,
      );
    }),
  );
  const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', () => c.write('hello'));
  assert.equal(await got, 'hello');
  c.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('requests read through the shared client buffer reach the upstream intact', () => {
  let up: Awaited<ReturnType<typeof echoUpstream>>;
  let router: Router;
  let port: number;

  before(async () => {
    up = await echoUpstream();
    port = await freePort();
    router = new Router(
      testRouterOptions(port, { responseTimeout: 10000, compression: { types: ['text/*'], minSize: 256, encodings: ['gzip'] } }),
    );
    await router.listen();
    router.apply(spec(up.address));
    router.setHealth(up.address, true);
  });
  after(async () => {
    await router.close();
    await up.close();
  });

  test('30 clients at once, each pipelining split heads and bodies of every size, get answers about their own bytes', async () => {
    const clients = Array.from({ length: 30 }, async (_, c) => {
      const s = net.connect(port, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      const expected: string[] = [];
      const wire: Buffer[] = [];
      for (let k = 0; k < 6; k++) {
        const id = `c${c}-r${k}`;
        const body = randomBytes(k === 0 ? 0 : Math.floor(Math.random() * (k === 5 ? 300_000 : 20_000)));
        const ae = k % 2 === 0 ? 'gzip' : 'identity';
        const method = body.length === 0 ? 'GET' : 'POST';
        wire.push(
          Buffer.from(
            `${method} /p/${id} HTTP/1.1\r\nHost: t\r\nx-id: ${id}\r\naccept-encoding: ${ae}\r\n` +
              `${body.length > 0 ? `content-length: ${body.length}\r\n` : ''}x-delay: ${k === 1 ? 15 : 0}\r\n\r\n`,
            'latin1',
          ),
          body,
        );
        expected.push(`id=${id} path=/p/${id} ae=${ae} sha=${sha(body)} `);
      }
      const got = answers(s, expected.length);
      await dribble(s, Buffer.concat(wire));
      const all = await got;
      s.destroy();
      return all.map((a, k) => ({ a, want: expected[k] as string, gzip: k % 2 === 0 }));
    });
    for (const list of await Promise.all(clients)) {
      for (const { a, want, gzip } of list) {
        assert.match(a.head, /^HTTP\/1\.1 200 OK/);
        // The accept-encoding the compressor read when the answer came (after many other reads) was this request's own.
        assert.equal(/content-encoding: gzip/i.test(a.head), gzip, a.head);
        assert.ok(text(a).startsWith(want), `${text(a).slice(0, 120)} is not about ${want}`);
      }
    }
  });

  test('requests held while the service is paused go upstream with their own heads once it resumes', async () => {
    router.apply(spec(up.address, { generation: 2, paused: { timeout: 10000 } }));
    const clients = Array.from({ length: 12 }, async (_, c) => {
      const s = net.connect(port, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      const got = answers(s, 1);
      s.write(`GET /held/${c} HTTP/1.1\r\nHost: t\r\nx-id: held-${c}\r\naccept-encoding: identity\r\n\r\n`);
      return { s, got, want: `id=held-${c} path=/held/${c} ae=identity ` };
    });
    const waiting = await Promise.all(clients);
    // Other connections read through the same buffer while those wait.
    const noise = net.connect(port, '127.0.0.1');
    await new Promise((r) => noise.once('connect', r));
    noise.write(`GET /noise HTTP/1.1\r\nHost: t\r\nx-id: ${'n'.repeat(400)}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 100));
    router.apply(spec(up.address, { generation: 3, paused: null }));
    for (const { s, got, want } of waiting) {
      const [a] = await got;
      assert.ok(
        text(a as { head: string; body: Buffer }).startsWith(want),
        `${text(a as { head: string; body: Buffer }).slice(0, 100)} is not about ${want}`,
      );
      s.destroy();
    }
    noise.destroy();
  });
});
