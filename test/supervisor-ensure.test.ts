// Asks for a service's routers can overlap: two controllers starting on one stateDir at once each
// ask before the store refuses the second, and a runtime can ask while the data plane's ask is still
// starting processes. All must get the same routers: a second set on the same listener would take a
// share of the connections and serve the table it had, however often the service switched after.
// A controller that attaches to a supervisor that never answers must fail, not wait forever; only one
// controller is attached at a time, and one whose process is gone keeps no one out.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import net from 'node:net';
import { CutoverError } from '../src/errors.ts';
import { socketPath } from '../src/daemon/protocol.ts';
import { Supervisor } from '../src/daemon/supervisor.ts';
import { SupervisorClient } from '../src/daemon/supervisor-client.ts';
import { createLogger } from '../src/log.ts';
import { freePort, testRouterOptions } from './helpers.ts';
import { alive, descendants } from './supervisor-helpers.ts';

test('two asks for the same routers at once start one set of router processes, and both get its pids', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-ensure-'));
  const log = createLogger({ level: 'error' });
  const supervisor = new Supervisor(join(dir, 'state'), 60_000, log);
  await supervisor.start();
  try {
    const client = await SupervisorClient.attach(join(dir, 'state'), 60_000, log);
    const opts = testRouterOptions(await freePort());
    const ask = () => client.request({ op: 'routers', service: 'web', opts, workers: 2 });
    const [a, b] = await Promise.all([ask(), ask()]);
    const pids = (g: typeof a) => g.processes.map((p) => p.pid).sort();
    assert.deepEqual(pids(a), pids(b), 'both asks answered with the same router processes');
    assert.equal(a.processes.length, 2);
    // Only those two run: no second set was started and left serving beside them.
    const routers = descendants(process.pid).filter(alive);
    assert.deepEqual(routers.sort(), pids(a), `router processes running: ${routers.join(', ')}`);
    const status = await client.request({ op: 'status' });
    assert.equal(status.routers.length, 1, JSON.stringify(status.routers));
    await client.detach();
  } finally {
    await supervisor.stop({});
    // A second set (the bug this test is for) is not the supervisor's to stop: it would keep this file running.
    for (const pid of descendants(process.pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a supervisor that takes the connection but never answers fails the attach in bounded time, naming its log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-ensure-'));
  const state = join(dir, 'state');
  const held: net.Socket[] = [];
  const stuck = net.createServer((s) => {
    held.push(s);
    s.resume();
  });
  await new Promise<void>((resolve) => stuck.listen(socketPath(state), resolve));
  try {
    const started = Date.now();
    await assert.rejects(SupervisorClient.attach(state, 60_000, createLogger({ level: 'error' }), 300), (err: unknown) => {
      assert.ok(err instanceof CutoverError, String(err));
      assert.match(err.message, /did not answer within 300 ms; see .*supervisor\.log/);
      return true;
    });
    assert.ok(Date.now() - started < 5000, 'not waited on for long');
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(
      held.every((s) => s.destroyed || s.readableEnded),
      'the connection to the stuck supervisor is let go',
    );
  } finally {
    for (const s of held) s.destroy();
    await new Promise((r) => stuck.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a second controller is refused while one is attached, naming its pid, and attaches once the first has detached', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-ensure-'));
  const state = join(dir, 'state');
  const log = createLogger({ level: 'error' });
  const supervisor = new Supervisor(state, 60_000, log);
  await supervisor.start();
  try {
    const first = await SupervisorClient.attach(state, 60_000, log);
    await assert.rejects(SupervisorClient.attach(state, 60_000, log), (err: unknown) => {
      assert.ok(err instanceof CutoverError, String(err));
      assert.equal(err.code, 'CUTOVER_E_CONFLICT');
      assert.match(err.message, new RegExp(`another controller \\(pid ${process.pid}\\) is attached`));
      return true;
    });
    assert.equal(supervisor.status().controllers, 1);
    // A restart in place: the controller detaches, the next one attaches.
    await first.detach();
    const next = await SupervisorClient.attach(state, 60_000, log);
    assert.equal(next.attached?.controllers, 1);
    await next.detach();
  } finally {
    await supervisor.stop({});
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a controller whose process is gone, though its socket is still open, does not keep the next one out', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-ensure-'));
  const state = join(dir, 'state');
  const log = createLogger({ level: 'error' });
  const supervisor = new Supervisor(state, 60_000, log);
  await supervisor.start();
  // The pid of a process that has exited, and a socket that attached in its name and stays open.
  const gone = spawnSync('true').pid;
  const stale = net.connect(socketPath(state));
  try {
    await new Promise((r) => stale.once('connect', r));
    const answered = new Promise((r) => stale.once('data', r));
    stale.write(`${JSON.stringify({ id: 1, op: 'attach', grace: 60_000, pid: gone })}\n`);
    await answered;
    assert.equal(supervisor.status().controllers, 1);
    const next = await SupervisorClient.attach(state, 60_000, log);
    assert.equal(next.attached?.controllers, 1, 'the gone one no longer counts');
    await new Promise((r) => (stale.destroyed ? r(null) : stale.once('close', r)));
    await next.detach();
  } finally {
    stale.destroy();
    await supervisor.stop({});
    rmSync(dir, { recursive: true, force: true });
  }
});
