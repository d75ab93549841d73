// When the balancer cutover drives is down, refuses, or is changed behind cutover's back: a switch
// fails with a coded reason and the store records no switch; status names the drift, and
// `cutover switch` applies the route table again.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { serverName } from '../src/traffic/haproxy.ts';
import { startHaproxy } from './balancers.ts';
import { CLI, type Daemon, startDaemon, startUpstream, waitFor } from './helpers.ts';

const run = promisify(execFile);

function haproxyCommand(socket: string, cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const s = net.connect({ path: socket });
    s.on('data', (d) => (out += d));
    s.on('error', reject);
    s.on('close', () => resolve(out));
    s.end(`${cmd}\n`);
  });
}

/** Every switch and traffic event of `web` so far, read from the SSE stream replayed from the start. */
async function storedEvents(apiPort: number, token: string): Promise<{ type: string; reason: string; data: Record<string, unknown> }[]> {
  const ctl = new AbortController();
  const res = await fetch(`http://127.0.0.1:${apiPort}/api/v1/events?after=0&service=web&types=switch,traffic`, {
    headers: { authorization: `Bearer ${token}` },
    signal: ctl.signal,
  });
  let text = '';
  const reader = res.body!.getReader();
  const deadline = Date.now() + 1500;
  const stop = setTimeout(() => ctl.abort(), 1500);
  try {
    while (Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
  } catch {
    // Aborted at the deadline: what arrived is the replay.
  } finally {
    clearTimeout(stop);
  }
  return text
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => JSON.parse(l.slice(6)));
}

async function withHaproxyService(fn: (ctx: Awaited<ReturnType<typeof setup>>) => Promise<void>) {
  const ctx = await setup();
  try {
    await fn(ctx);
  } finally {
    await ctx.d.stop();
    await ctx.haproxy.stop();
    await ctx.blue.close();
    await ctx.green.close();
    rmSync(ctx.dir, { recursive: true, force: true });
  }
}

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-lb-fail-'));
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  const haproxy = await startHaproxy(dir);
  let d: Daemon | undefined;
  try {
    d = await startDaemon([blue.address], [green.address], {
      service: { traffic: { kind: 'haproxy', socket: haproxy.socket, backend: 'web' } },
    });
    await waitFor('HAProxy serving blue', async () => (await fetch(`http://127.0.0.1:${haproxy.port}/`)).headers.get('x-slot') === 'blue');
    return { dir, blue, green, haproxy, d };
  } catch (err) {
    // Nothing started here may outlive a failed start, or the test file never ends.
    await d?.stop();
    await haproxy.stop();
    await blue.close();
    await green.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

test('a switch while HAProxy is down fails as unreachable, and the store records no switch', async () => {
  await withHaproxyService(async ({ d, haproxy }) => {
    const before = (await d.api('GET', '/api/v1/services/web')).json;
    await haproxy.stop();
    const r = await d.switchTo('green');
    assert.equal(r.status, 503, JSON.stringify(r.json));
    assert.equal(r.json.error.code, 'CUTOVER_E_TRAFFIC_UNREACHABLE');
    assert.match(r.json.error.message, /runtime API/);
    const after = (await d.api('GET', '/api/v1/services/web')).json;
    assert.equal(after.live, 'blue');
    assert.equal(after.generation, before.generation);
    // The store's events, replayed from the start: the failure is recorded, a switch to green is not.
    const rows = await storedEvents(d.apiPort, d.token);
    assert.ok(!rows.some((e) => e.type === 'switch' && e.data.to === 'green'), JSON.stringify(rows.slice(-3)));
    const last = rows.filter((e) => e.type === 'traffic').at(-1);
    assert.match(last?.reason ?? '', /haproxy did not take generation \d+, nothing switched/);
    assert.equal(last?.data.code, 'CUTOVER_E_TRAFFIC_UNREACHABLE');
  });
});

test('status reports HAProxy changed behind cutover as drift, and cutover switch applies the route table again', async () => {
  await withHaproxyService(async ({ d, haproxy, blue }) => {
    assert.match(await haproxyCommand(haproxy.socket, `set server web/${serverName('blue', blue.address)} state maint`), /^\s*$/);
    const drifted = await waitFor('drift in status', async () => {
      const t = (await d.api('GET', '/api/v1/services/web')).json.traffic;
      return t.drift.length > 0 ? t : undefined;
    });
    assert.ok(
      drifted.drift.some((x: string) => x.includes('blue')),
      JSON.stringify(drifted.drift),
    );
    const env = { ...process.env, CUTOVER_API: `http://127.0.0.1:${d.apiPort}`, CUTOVER_TOKEN: d.token, NO_COLOR: '1' };
    const shown = await run(process.execPath, [CLI, 'status', 'web'], { env });
    assert.match(shown.stdout, /traffic {2}haproxy \(lossless, weighted\)/);
    assert.match(shown.stdout, /DRIFT/);
    await run(process.execPath, [CLI, 'switch', 'web', 'blue'], { env });
    const t = (await d.api('GET', '/api/v1/services/web')).json.traffic;
    assert.deepEqual(t.drift, []);
    assert.equal((await fetch(`http://127.0.0.1:${haproxy.port}/`)).headers.get('x-slot'), 'blue');
    const again = await run(process.execPath, [CLI, 'status', 'web'], { env });
    assert.match(again.stdout, /agrees with the route table/);
  });
});
