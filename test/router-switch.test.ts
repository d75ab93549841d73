// The promise the product stands on: switching the live slot under load loses no request, and every
// answer comes from a slot that was live at some moment while the request ran.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { startDaemon, startUpstream } from './helpers.ts';

test('50 keep-alive clients see zero failed requests while the live slot flips 1,000 times', async () => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  // A health check that times out under a loaded machine would refuse a switch; this test is about the
  // switch, so the probe gets a timeout no loaded machine reaches.
  const d = await startDaemon([blue.address], [green.address], {
    service: { health: { path: '/healthz', interval: '100ms', timeout: '10s' } },
  });
  try {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
    const requests: { start: number; end: number; slot: string }[] = [];
    const failures: string[] = [];
    let stop = false;
    const client = async (): Promise<void> => {
      while (!stop) {
        const start = performance.now();
        await new Promise<void>((resolve) => {
          const req = http.get({ host: '127.0.0.1', port: d.port, path: '/', agent }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c) => (body += c));
            res.on('end', () => {
              const end = performance.now();
              if (res.statusCode !== 200) failures.push(`status ${res.statusCode}: ${body}`);
              else requests.push({ start, end, slot: body });
              resolve();
            });
          });
          req.on('error', (err) => {
            failures.push(err.message);
            resolve();
          });
        });
      }
    };
    const clients = Array.from({ length: 50 }, client);

    // Flip blue -> green -> blue ... and remember when each switch was asked for and confirmed.
    const switches: { slot: string; start: number; end: number }[] = [{ slot: 'blue', start: 0, end: 0 }];
    // Bounded, and loose enough for a loaded machine (a switch is a store write and every router's ack), inside the runner's 300 s per test.
    const deadline = Date.now() + 240_000;
    try {
      for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
        const slot = i % 2 === 0 ? 'green' : 'blue';
        const start = performance.now();
        const r = await d.switchTo(slot);
        assert.equal(r.status, 200, JSON.stringify(r.json));
        switches.push({ slot, start, end: performance.now() });
      }
    } finally {
      // A failed switch must end the clients too, or they would spin until the test runner's limit.
      stop = true;
      await Promise.all(clients);
    }
    agent.destroy();

    assert.equal(switches.length - 1, 1000, 'the switch loop finished all 1,000 switches in time');
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failed requests`);
    assert.ok(requests.length > 2000, `enough traffic flowed during the flips (${requests.length} requests)`);

    // Slot S may be live from the start of the switch to S until the end of the next switch away.
    const windows = switches.map((s, i) => ({ slot: s.slot, from: s.start, to: switches[i + 1]?.end ?? Infinity }));
    const wrong = requests.filter((r) => !windows.some((w) => w.slot === r.slot && w.from <= r.end && w.to >= r.start));
    assert.equal(wrong.length, 0, `responses from a slot that was not live during the request: ${JSON.stringify(wrong.slice(0, 3))}`);
    const slots = new Set(requests.map((r) => r.slot));
    assert.deepEqual([...slots].sort(), ['blue', 'green'], 'both slots served traffic');
  } finally {
    await d.stop();
    await blue.close();
    await green.close();
  }
});

test('a request in flight on blue finishes after a switch to green, and the next request on that connection goes to green', async () => {
  const slow = (slot: string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url !== '/slow') return false;
    setTimeout(() => res.end(`${slot} slow`), 2000);
  };
  const blue = await startUpstream('blue', slow('blue'));
  const green = await startUpstream('green', slow('green'));
  const d = await startDaemon([blue.address], [green.address]);
  try {
    const sock = net.connect(d.port, '127.0.0.1');
    let buf = '';
    sock.on('data', (c) => (buf += c.toString('latin1')));
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 300));
    const sw = await d.switchTo('green');
    assert.equal(sw.status, 200);
    assert.equal(buf, '', 'the slow answer is not there yet when the switch completes');
    const first = await waitForText(() => buf, 'blue slow', 5000);
    assert.match(first, /^HTTP\/1\.1 200/);
    assert.match(first, /x-slot: blue/i, 'the request that started on blue finished on blue');
    buf = '';
    sock.write('GET /next HTTP/1.1\r\nHost: x\r\n\r\n');
    const second = await waitForText(() => buf, 'green', 5000);
    assert.match(second, /x-slot: green/i, 'the next request on the same connection went to green');
    sock.destroy();
  } finally {
    await d.stop();
    await blue.close();
    await green.close();
  }
});

test('with two router workers a switch is confirmed only when both serve the new slot', async () => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  const d = await startDaemon([blue.address], [green.address], { service: { workers: 2 } });
  try {
    for (const slot of ['green', 'blue', 'green'] as const) {
      const r = await d.switchTo(slot);
      assert.equal(r.status, 200);
      // New connections land on either worker (SO_REUSEPORT); every one must see the new slot at once.
      const bodies = await Promise.all(
        Array.from({ length: 40 }, () => fetch(`http://127.0.0.1:${d.port}/`, { headers: { connection: 'close' } }).then((x) => x.text())),
      );
      assert.deepEqual(new Set(bodies), new Set([slot]));
    }
  } finally {
    await d.stop();
    await blue.close();
    await green.close();
  }
});

async function waitForText(get: () => string, text: string, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (get().includes(text)) return get();
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`did not see "${text}" within ${ms}ms; got: ${get()}`);
}
