// Long-lived and large traffic through the router: WebSockets across a switch and its drain,
// server-sent events one by one, and a 100 MB upload with the router's memory bounded.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { startDaemon, startUpstream, waitFor } from './helpers.ts';

test('a WebSocket opened on blue stays open through a switch and is closed with 1001 when the drain runs out', async () => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  let blueSockets = 0;
  for (const up of [blue, green]) {
    const wss = new WebSocketServer({ server: up.server });
    wss.on('connection', (ws) => {
      if (up === blue) blueSockets++;
      ws.on('message', (m) => ws.send(`${up.slot}:${m.toString()}`));
    });
  }
  const d = await startDaemon([blue.address], [green.address], { service: { drain: '1500ms' } });
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${d.port}/chat`);
    const messages: string[] = [];
    ws.on('message', (m) => messages.push(m.toString()));
    const closed = new Promise<{ code: number; at: number }>((resolve) => ws.on('close', (code) => resolve({ code, at: Date.now() })));
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    ws.send('one');
    await waitFor('echo from blue', () => messages.includes('blue:one'));

    const userConnsBefore = blue.userConnections;
    const switchedAt = Date.now();
    assert.equal((await d.switchTo('green')).status, 200);
    ws.send('two');
    await waitFor('echo on the same socket after the switch', () => messages.includes('blue:two'));
    assert.equal(ws.readyState, WebSocket.OPEN, 'the socket is still open after the switch');

    // New traffic goes to green; blue sees no new user connections.
    for (let i = 0; i < 5; i++) assert.equal(await (await fetch(`http://127.0.0.1:${d.port}/`)).text(), 'green');
    const ws2 = new WebSocket(`ws://127.0.0.1:${d.port}/chat`);
    const reply = new Promise<string>((r) => ws2.once('message', (m) => r(m.toString())));
    await new Promise((r) => ws2.once('open', r));
    ws2.send('hi');
    assert.equal(await reply, 'green:hi', 'a new WebSocket after the switch lands on green');
    ws2.close();

    const { code, at } = await closed;
    assert.equal(code, 1001, 'closed with 1001 going away');
    assert.ok(at - switchedAt >= 1400, `closed by the drain, not before it ran out (${at - switchedAt}ms)`);
    assert.equal(blue.userConnections, userConnsBefore, 'blue saw no new user connections after the switch');
    assert.equal(blueSockets, 1);
  } finally {
    await d.stop();
    await blue.close();
    await green.close();
  }
});

test('server-sent events arrive one by one through the router, not buffered', async () => {
  const blue = await startUpstream('blue', (req, res) => {
    if (req.url !== '/events') return false;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let n = 0;
    const t = setInterval(() => {
      res.write(`data: ${n++} ${Date.now()}\n\n`);
      if (n === 5) {
        clearInterval(t);
        res.end();
      }
    }, 250);
    req.on('close', () => clearInterval(t));
  });
  const d = await startDaemon([blue.address], []);
  try {
    const arrivals: { n: number; sent: number; got: number }[] = [];
    await new Promise<void>((resolve, reject) => {
      http
        .get(`http://127.0.0.1:${d.port}/events`, (res) => {
          assert.equal(res.headers['content-type'], 'text/event-stream');
          res.setEncoding('utf8');
          let buf = '';
          res.on('data', (chunk: string) => {
            buf += chunk;
            let i: number;
            while ((i = buf.indexOf('\n\n')) >= 0) {
              const [, n, sent] = /data: (\d+) (\d+)/.exec(buf.slice(0, i)) ?? [];
              arrivals.push({ n: Number(n), sent: Number(sent), got: Date.now() });
              buf = buf.slice(i + 2);
            }
          });
          res.on('end', () => resolve());
        })
        .on('error', reject);
    });
    assert.deepEqual(
      arrivals.map((a) => a.n),
      [0, 1, 2, 3, 4],
    );
    // Each event is seen before the next one is even written (they are 250 ms apart).
    for (const a of arrivals) assert.ok(a.got - a.sent < 200, `event ${a.n} took ${a.got - a.sent}ms to arrive`);
  } finally {
    await d.stop();
    await blue.close();
  }
});

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

test('a 100 MB upload streams through a router that holds back while the upstream stalls, with its memory bounded', async () => {
  const total = 100 * 1024 * 1024;
  const stall = 2000;
  let readingFrom = 0;
  const blue = await startUpstream('blue', (req, res) => {
    if (req.url !== '/upload') return false;
    let got = 0;
    // The upstream reads nothing for 2 s: a router without backpressure would take the whole upload
    // from the fast client meanwhile and hold it; one with backpressure stops reading the client.
    req.pause();
    setTimeout(() => {
      readingFrom = Date.now();
      req.resume();
    }, stall);
    req.on('data', (c: Buffer) => (got += c.length));
    req.on('end', () => res.end(String(got)));
  });
  const d = await startDaemon([blue.address], []);
  try {
    const pid = d.child.pid!;
    const before = rssKb(pid);
    let stalledPeak = before;
    let sent = 0;
    let sentDuringStall = 0;
    const sampler = setInterval(() => {
      if (readingFrom === 0) {
        stalledPeak = Math.max(stalledPeak, rssKb(pid));
        sentDuringStall = sent;
      }
    }, 20);
    const answer = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: d.port, path: '/upload', method: 'POST', headers: { 'content-length': total } },
        (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve(body));
        },
      );
      req.on('error', reject);
      const chunk = Buffer.alloc(256 * 1024, 7);
      const pump = (): void => {
        while (sent < total) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    clearInterval(sampler);
    assert.equal(answer, String(total), 'every byte arrived');
    const stalledMb = (stalledPeak - before) / 1024;
    assert.ok(
      sentDuringStall < total / 2,
      `the client was held back while the upstream stalled (${(sentDuringStall / 2 ** 20).toFixed(1)} MB accepted)`,
    );
    assert.ok(stalledMb < 16, `router memory grew by ${stalledMb.toFixed(1)} MB while the upstream stalled`);
  } finally {
    await d.stop();
    await blue.close();
  }
});

test('an upstream that half-answers and dies mid-body closes the client connection instead of faking a complete answer', async () => {
  const blue = await startUpstream('blue', (req, res) => {
    if (req.url !== '/cut') return false;
    res.writeHead(200, { 'content-length': '100' });
    res.write('x'.repeat(10));
    setTimeout(() => req.socket.destroy(), 50);
  });
  const d = await startDaemon([blue.address], []);
  try {
    const got = await new Promise<string>((resolve) => {
      const s = net.connect(d.port, '127.0.0.1');
      let out = '';
      s.on('data', (c) => (out += c));
      s.on('close', () => resolve(out));
      s.write('GET /cut HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    assert.match(got, /content-length: 100/i);
    assert.ok(got.endsWith('x'.repeat(10)), 'the 10 bytes sent were passed on and then the connection closed');
  } finally {
    await d.stop();
    await blue.close();
  }
});
