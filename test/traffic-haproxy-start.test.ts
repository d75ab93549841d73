// An HAProxy that is not there yet when the daemon starts, and one that restarts under a running
// daemon: cutover keeps applying the recorded route table (with backoff) until HAProxy takes it, says
// so in status meanwhile, and gives a restarted HAProxy its dynamic servers back unasked.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { startHaproxy, type HaproxyServer } from './balancers.ts';
import { CLI, freePort, startDaemon, startUpstream, waitFor, type Daemon } from './helpers.ts';

const run = promisify(execFile);

test('a daemon started before HAProxy shows it unreachable with a code, applies the route table once HAProxy is up, and again after HAProxy restarts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-haproxy-start-'));
  const port = await freePort();
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  let haproxy: HaproxyServer | undefined;
  let d: Daemon | undefined;
  try {
    d = await startDaemon([blue.address], [green.address], {
      service: { traffic: { kind: 'haproxy', socket: join(dir, 'admin.sock'), backend: 'web' } },
    });
    const daemon = d;
    const traffic = async () => (await daemon.api('GET', '/api/v1/services/web')).json.traffic;
    const waiting = await traffic();
    assert.equal(waiting.errorCode, 'CUTOVER_E_TRAFFIC_UNREACHABLE', JSON.stringify(waiting));
    assert.match(waiting.error, /cannot reach the runtime API/);
    assert.ok(waiting.retryAt !== null, 'status says when the route table is applied again');
    const env = { ...process.env, CUTOVER_API: `http://127.0.0.1:${d.apiPort}`, CUTOVER_TOKEN: d.token, NO_COLOR: '1' };
    const shown = await run(process.execPath, [CLI, 'status', 'web'], { env });
    assert.match(shown.stdout, /unreachable or refusing \(CUTOVER_E_TRAFFIC_UNREACHABLE\): .*applying the route table again at/);

    haproxy = await startHaproxy(dir, { port });
    const via = async () => (await fetch(`http://127.0.0.1:${port}/`)).headers.get('x-slot');
    await waitFor('HAProxy serving blue once it is up', async () => (await via()) === 'blue', 15_000);
    const taken = await waitFor('status agreeing with the route table', async () => {
      const t = await traffic();
      return t.error === null && t.drift.length === 0 && t.observed?.weights?.blue === 100 ? t : undefined;
    });
    assert.equal(taken.retryAt, null);
    assert.equal(taken.errorCode, null);

    await haproxy.stop();
    haproxy = await startHaproxy(dir, { port });
    await waitFor('the restarted HAProxy serving blue again', async () => (await via()) === 'blue', 15_000);
    // The note can be read a moment before the balancer's state is read again: status must come to agree.
    const again = await waitFor('the restart noted in status, agreeing with the route table', async () => {
      const t = await traffic();
      const noted = (t.observed?.notes ?? []).some((n: string) => /applied again after 1 HAProxy restart/.test(n));
      return noted && t.drift.length === 0 ? t : undefined;
    });
    assert.deepEqual(again.drift, []);
  } finally {
    await d?.stop();
    await haproxy?.stop();
    await blue.close();
    await green.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
