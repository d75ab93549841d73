// The router's own answers to a HEAD request carry no body (RFC 9110 9.3.2): the same head a GET gets,
// Content-Length included, and on a keep-alive connection the next request is answered in step. The
// real daemon (its supervised router for a plain HTTP service, its edge listener for a TLS service),
// raw HTTP/1.1 sockets that see every byte, Node's HTTP/2 client, and Debian's curl over h2.
// A refusal before the head was read whole (431, 400) answers a HEAD with its head alone too.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { Router } from '../src/router/router.ts';
import { curl, h2Connect, liveSpec } from './edge-helpers.ts';
import { type Daemon, freePort, startDaemon, startUpstream, testRouterOptions, type Upstream, waitFor } from './helpers.ts';
import { makeCa, makeCert, type TestCa } from './tls.ts';

const PAGE_502 = '<h1>Our upstream is having a moment</h1>\n';

/** One client connection read byte by byte: heads and bodies exactly as the router wrote them. */
class Raw {
  private buf = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | null = null;
  readonly socket: net.Socket;
  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('error', () => {});
  }
  private async until(ok: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!ok()) {
      if (this.ended) throw new Error(`connection closed before ${what}; got ${JSON.stringify(this.buf.toString('latin1'))}`);
      if (Date.now() > deadline) throw new Error(`no ${what} within 10 s; got ${JSON.stringify(this.buf.toString('latin1'))}`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 200);
      });
    }
  }
  /** The next response: its head as written, and its body unless it answers a HEAD. */
  async response(head: boolean): Promise<{ head: string; status: number; body: string }> {
    await this.until(() => this.buf.includes('\r\n\r\n'), 'a response head');
    const end = this.buf.indexOf('\r\n\r\n') + 4;
    const text = this.buf.toString('latin1', 0, end);
    assert.match(text, /^HTTP\/1\.1 \d{3} /, 'a response starts where the last one ended');
    this.buf = this.buf.subarray(end);
    const length = Number(/\r\ncontent-length: (\d+)\r\n/i.exec(text)?.[1] ?? 0);
    let body = '';
    if (!head) {
      await this.until(() => this.buf.length >= length, `a body of ${length} bytes`);
      body = this.buf.toString('utf8', 0, length);
      this.buf = this.buf.subarray(length);
    }
    return { head: text, status: Number(text.slice(9, 12)), body };
  }
  /** Waits for the router to close, and returns whatever it sent after the last response. */
  async rest(): Promise<string> {
    await new Promise<void>((r) => (this.ended ? r() : this.socket.once('close', () => r())));
    return this.buf.toString('latin1');
  }
}

function request(method: string, path: string, host: string, extra = ''): string {
  return `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\n${extra}\r\n`;
}

describe("the router's own answers to HEAD", () => {
  let ca: TestCa;
  let dir: string;
  let up: Upstream;
  let d: Daemon;
  let webPort: number;
  let appPort: number;
  const plain = () => new Raw(net.connect(webPort, '127.0.0.1'));
  const overTls = () =>
    new Raw(tls.connect({ host: '127.0.0.1', port: appPort, servername: 'app.test', ca: ca.pem, ALPNProtocols: ['http/1.1'] }));

  /** HEAD then GET on one keep-alive connection: the same head, no body after it, the GET whole. */
  async function keepAlive(open: () => Raw, path: string, host: string, status: number): Promise<string> {
    const c = open();
    try {
      c.socket.write(request('HEAD', path, host));
      const h = await c.response(true);
      c.socket.write(request('GET', path, host));
      const g = await c.response(false);
      assert.equal(g.status, status, g.head);
      assert.equal(h.head, g.head, 'HEAD gets the head a GET gets, Content-Length included');
      assert.ok(g.body.length > 0 && /\r\ncontent-length: [1-9]/.test(g.head), g.head);
      assert.doesNotMatch(h.head, /connection: close/);
      return g.body;
    } finally {
      c.socket.destroy();
    }
  }

  /** An answer that closes the connection: to HEAD its head alone, then the close; to GET the same head and a body. */
  async function closing(path: string, extra: string, status: number, after = ''): Promise<string> {
    const answers: { head: string; status: number; body: string }[] = [];
    for (const method of ['HEAD', 'GET']) {
      const c = plain();
      c.socket.write(request(method, path, 'web.test', extra) + after);
      answers.push(await c.response(method === 'HEAD'));
      if (method === 'HEAD') assert.equal(await c.rest(), '', 'nothing after the head of a HEAD answer');
      c.socket.destroy();
    }
    const [h, g] = answers as [(typeof answers)[0], (typeof answers)[0]];
    assert.equal(g.status, status, g.head);
    assert.equal(h.head, g.head);
    assert.match(h.head, /\r\nconnection: close\r\n/);
    return g.body;
  }

  before(async () => {
    ca = makeCa();
    dir = mkdtempSync(join(tmpdir(), 'cutover-head-'));
    writeFileSync(join(dir, '502.html'), PAGE_502);
    const cert = makeCert(ca, ['app.test'], 'app');
    up = await startUpstream('blue', (req) => {
      if (req.url === '/die') req.socket.destroy();
      // /hang: never answered (the router's response timeout answers instead).
      return req.url === '/die' || req.url === '/hang';
    });
    webPort = await freePort();
    appPort = await freePort();
    const common = { drain: '1s', health: { path: '/healthz', interval: '100ms' }, provider: { kind: 'static', blue: [up.address] } };
    d = await startDaemon([], [], {
      services: {
        web: {
          ...common,
          listen: `127.0.0.1:${webPort}`,
          limits: { maxRequestBody: 100 },
          timeouts: { body: '300ms', response: '400ms' },
          errorPages: { 502: join(dir, '502.html') },
        },
        app: { ...common, listen: `127.0.0.1:${appPort}`, hosts: ['app.test'], tls: { certificate: cert.cert, key: cert.key } },
      },
    });
    await waitFor('web serving', async () => (await fetch(`http://127.0.0.1:${webPort}/`)).status === 200);
  });

  after(async () => {
    await d?.stop();
    await up?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(ca.dir, { recursive: true, force: true });
  });

  it('HTTP/1.1: the maintenance page and the pause timeout answer HEAD with their head alone, and the connection goes on', async () => {
    assert.equal((await d.api('POST', '/api/v1/services/web/maintenance', { enabled: true, message: 'Back at noon' })).status, 200);
    try {
      assert.match(await keepAlive(plain, '/', 'web.test', 503), /Back at noon/);
    } finally {
      assert.equal((await d.api('POST', '/api/v1/services/web/maintenance', { enabled: false })).status, 200);
    }
    assert.equal((await d.api('POST', '/api/v1/services/web/pause', { timeout: '300ms' })).status, 200);
    try {
      assert.match(await keepAlive(plain, '/', 'web.test', 503), /did not resume within 300 ms/);
    } finally {
      assert.equal((await d.api('POST', '/api/v1/services/web/resume', {})).status, 200);
    }
    await waitFor('web serving again', async () => (await fetch(`http://127.0.0.1:${webPort}/`)).status === 200);
  });

  it('HTTP/1.1: 413, 408, a configured 502 page and 504 answer HEAD with their head alone before the close', async () => {
    assert.match(await closing('/big', 'content-length: 200\r\n', 413), /larger than 100 bytes/);
    assert.match(await closing('/trickle', 'content-length: 10\r\n', 408, 'x'), /body not received within the body timeout/);
    assert.equal(await closing('/die', '', 502), PAGE_502);
    assert.equal((await closing('/hang', '', 504)).length > 0, true);
  });

  it('HTTP/1.1 over TLS: an unknown host answers HEAD with its head alone, and the connection goes on', async () => {
    const body = await keepAlive(overTls, '/', 'nobody.test', 421);
    assert.match(body, /nobody\.test/);
    // The same connection still reaches the service it names.
    const c = overTls();
    try {
      c.socket.write(request('HEAD', '/', 'nobody.test'));
      await c.response(true);
      c.socket.write(request('GET', '/', 'app.test'));
      const ok = await c.response(false);
      assert.deepEqual([ok.status, ok.body], [200, 'blue']);
    } finally {
      c.socket.destroy();
    }
  });

  it('HTTP/2: maintenance and an unknown host answer HEAD with headers alone (Node and curl), the session goes on', async () => {
    assert.equal((await d.api('POST', '/api/v1/services/app/maintenance', { enabled: true })).status, 200);
    const s = await h2Connect(appPort, 'app.test', ca.pem);
    try {
      const ask = (method: string, authority: string) =>
        new Promise<{ status: number; length: string; bytes: number }>((resolve, reject) => {
          const req = s.request({ ':method': method, ':path': '/', ':authority': authority }, { endStream: true });
          let status = 0;
          let length = '';
          let bytes = 0;
          req.on('response', (h) => {
            status = Number(h[':status']);
            length = String(h['content-length']);
          });
          req.on('data', (b: Buffer) => (bytes += b.length));
          req.on('end', () => resolve({ status, length, bytes }));
          req.on('error', reject);
        });
      for (const authority of ['app.test', 'nobody.test']) {
        const g = await ask('GET', authority);
        const h = await ask('HEAD', authority);
        assert.ok(g.bytes > 0 && g.length === String(g.bytes), JSON.stringify(g));
        assert.deepEqual(h, { status: g.status, length: g.length, bytes: 0 }, authority);
      }
      assert.equal((await ask('GET', 'app.test')).status, 503, 'the session goes on');
    } finally {
      s.close();
    }
    // curl's nghttp2 refuses DATA on a HEAD stream: exit 0 and the headers mean none came.
    const out = await curl([
      '--http2',
      '-I',
      '-o',
      '/dev/null',
      '-w',
      '%{http_version} %{http_code} %{size_download}',
      '--cacert',
      ca.cert,
      '--resolve',
      `app.test:${appPort}:127.0.0.1`,
      `https://app.test:${appPort}/`,
    ]);
    assert.deepEqual(out, { code: 0, out: '2 503 0' });
    assert.equal((await d.api('POST', '/api/v1/services/app/maintenance', { enabled: false })).status, 200);
  });
});

it("a drill's injected 500 answers HEAD with its head alone, and the keep-alive connection goes on", async () => {
  const up = await startUpstream('blue');
  const router = new Router(testRouterOptions(0));
  try {
    const { port } = await router.listen();
    router.setHealth(up.address, true);
    router.apply({ ...liveSpec('web', [up.address], [], 'blue', 1), faults: { slot: 'blue', errors: 1, latency: 0 } });
    const c = new Raw(net.connect(port, '127.0.0.1'));
    try {
      c.socket.write(request('HEAD', '/', 'web.test'));
      const h = await c.response(true);
      c.socket.write(request('GET', '/', 'web.test'));
      const g = await c.response(false);
      assert.equal(g.status, 500);
      assert.match(g.body, /injected by a cutover drill/);
      assert.equal(h.head, g.head);
    } finally {
      c.socket.destroy();
    }
  } finally {
    await router.close();
    await up.close();
  }
});

it('a HEAD refused before its head is read whole (too large, bare LF, malformed, too slow) gets the head of the refusal alone', async () => {
  const router = new Router(testRouterOptions(0, { maxHeaderBytes: 1024, headersTimeout: 300 }));
  try {
    const { port } = await router.listen();
    const refusals: [string, number][] = [
      [`HEAD / HTTP/1.1\r\nhost: web.test\r\nx-big: ${'a'.repeat(2000)}\r\n\r\n`, 431],
      ['HEAD / HTTP/1.1\nhost: web.test\n\n', 400],
      ['HEAD / HTTP/1.1\r\nhost: web.test\r\nbad header\r\n\r\n', 400],
    ];
    for (const [bytes, status] of refusals) {
      const c = new Raw(net.connect(port, '127.0.0.1'));
      c.socket.write(bytes);
      const r = await c.response(true);
      assert.equal(r.status, status, r.head);
      assert.match(r.head, /\r\ncontent-length: [1-9]/i, 'the head a GET would get, its length included');
      assert.equal(await c.rest(), '', `no body after the head of the ${status}`);
    }
    // A head that stops coming: the headers timeout's 408.
    const slow = new Raw(net.connect(port, '127.0.0.1'));
    slow.socket.write('HEAD / HTTP/1.1\r\nhost: web.test\r\n');
    const t = await slow.response(true);
    assert.equal(t.status, 408, t.head);
    assert.equal(await slow.rest(), '', 'no body after the head of the 408');
    // The same refusal to a GET still carries its body.
    const g = new Raw(net.connect(port, '127.0.0.1'));
    g.socket.write('GET / HTTP/1.1\nhost: web.test\n\n');
    assert.match((await g.response(false)).body, /bare LF/);
  } finally {
    await router.close();
  }
});
