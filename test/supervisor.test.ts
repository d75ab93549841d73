// The data plane outlives the controller: the supervisor owns the listener and the router processes,
// so a controller that is SIGKILLed leaves traffic untouched and the next `cutover up` attaches to
// the same routers; a deliberate stop drains and leaves nothing; with no controller, the grace ends all;
// a second `cutover up` on a stateDir in use is refused before it changes anything.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { CLI, freePort, startUpstream, waitFor } from './helpers.ts';
import { cleanup, listening, startUp } from './lifecycle-helpers.ts';
import { alive, gone, keepAliveLoad, processes, serving, writeStatic } from './supervisor-helpers.ts';

test('a SIGKILLed controller leaves users served; `cutover up` again attaches to the same routers, 0 failed, and switches go on', async () => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  const s = await writeStatic(blue.address, green.address);
  let d = await startUp(s);
  try {
    await serving(s.port);
    const before = await processes(d);
    const load = keepAliveLoad(s.port, 10);
    try {
      await new Promise((r) => setTimeout(r, 300));
      await d.stop('SIGKILL');
      // No controller now: the routers serve their last table on their own.
      await new Promise((r) => setTimeout(r, 500));
      d = await startUp(s);
      const after = await waitFor('the new controller to attach', async () => {
        const p = await processes(d);
        return p.controllers === 1 ? p : undefined;
      });
      assert.equal(after.supervisor, before.supervisor, 'the same supervisor');
      assert.deepEqual(after.routers, before.routers, 'the same router processes: no second listener');
      assert.equal(after.generation, before.generation, 'no generation lost or repeated by the attach');
      const sw = await d.api('POST', '/api/v1/services/web/switch', { slot: 'green' });
      assert.equal(sw.status, 200, JSON.stringify(sw.json));
      assert.equal(sw.json.generation, before.generation + 1);
      await waitFor('green to answer', async () => (await (await fetch(`http://127.0.0.1:${s.port}/`)).text()) === 'green');
      const r = await load.stop();
      assert.deepEqual(r.failures, [], `failed requests across the kill and the attach (${r.ok} ok)`);
      assert.ok(r.ok > 0);
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  } finally {
    await d.stop();
    cleanup(s);
    await blue.close();
    await green.close();
  }
});

test('SIGTERM drains and stops: the supervisor and every router process exit and the port is closed', async () => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  const s = await writeStatic(blue.address, green.address, { workers: 2 });
  const d = await startUp(s);
  try {
    await serving(s.port);
    const p = await processes(d);
    assert.equal(p.routers.length, 2);
    await d.stop('SIGTERM');
    assert.equal(d.child.exitCode, 0, d.output());
    // When `cutover up` has exited nothing of its stateDir runs any more (a remount or an rm can follow at once).
    assert.deepEqual([p.supervisor, ...p.routers].filter(alive), [], 'every process gone when cutover up exits');
    await gone([p.supervisor, ...p.routers]);
    assert.equal(await listening(`127.0.0.1:${s.port}`), false, 'the port is closed');
  } finally {
    await d.stop('SIGKILL');
    cleanup(s);
    await blue.close();
    await green.close();
  }
});

test('with no controller attached within supervisor.grace, the routers keep serving until it ends, then everything stops', async () => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  const s = await writeStatic(blue.address, green.address, {}, '3s');
  const d = await startUp(s);
  try {
    await serving(s.port);
    const p = await processes(d);
    await d.stop('SIGKILL');
    const killedAt = Date.now();
    assert.equal(await (await fetch(`http://127.0.0.1:${s.port}/`)).text(), 'blue', 'served with no controller');
    await gone([p.supervisor, ...p.routers], 20_000);
    assert.ok(Date.now() - killedAt >= 2500, 'not before the grace ran out');
    assert.equal(await listening(`127.0.0.1:${s.port}`), false, 'the port is closed');
  } finally {
    cleanup(s);
    await blue.close();
    await green.close();
  }
});

test('a router process SIGKILLed with workers: 2 is started again at once; clients on the other connections see no failure', async () => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  const s = await writeStatic(blue.address, green.address, { workers: 2 });
  const d = await startUp(s);
  try {
    await serving(s.port);
    const p = await processes(d);
    const clients = 12;
    const load = keepAliveLoad(s.port, clients);
    try {
      await new Promise((r) => setTimeout(r, 500));
      process.kill(p.routers[0]!, 'SIGKILL');
      const restarted = await waitFor('the router process to run again', async () => {
        const now = await processes(d);
        const fresh = now.routers.filter((pid) => pid !== null && !p.routers.includes(pid));
        return fresh.length === 1 ? now : undefined;
      });
      assert.ok(alive(p.routers[1]!), 'its sibling kept running');
      await new Promise((r) => setTimeout(r, 500));
      const r = await load.stop();
      // A client whose connection the dead process held loses the request in flight on it (and
      // reconnects); the others never notice. Printed for the report.
      process.stdout.write(
        `# one router process of two SIGKILLed: ${r.failures.length} failed of ${r.ok + r.failures.length} (${r.clientsFailed} of ${clients} clients), longest gap ${r.maxGapMs} ms\n`,
      );
      assert.ok(r.clientsFailed < clients, `some clients must be untouched: ${r.failures.join('; ')}`);
      assert.ok(r.failures.length <= r.clientsFailed, `at most one failure per client whose connection died: ${r.failures.join('; ')}`);
      assert.equal(restarted.routers.length, 2);
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  } finally {
    await d.stop();
    cleanup(s);
    await blue.close();
    await green.close();
  }
});

test('a second `cutover up` on a stateDir in use is refused, and the running routers stay as they were', async () => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  const s = await writeStatic(blue.address, green.address);
  try {
    const d = await startUp(s);
    try {
      await serving(s.port);
      const before = await processes(d);
      // Another config on the same stateDir, with router options of its own (a longer drain).
      const other = s.file.replace('cutover.yaml', 'other.yaml');
      const text = readFileSync(s.file, 'utf8').replace('drain: 2s', 'drain: 3s');
      writeFileSync(other, text.replace(`127.0.0.1:${s.apiPort}`, `127.0.0.1:${await freePort()}`));
      const r = spawnSync(process.execPath, [CLI, 'up', '-c', other], {
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, CUTOVER_TOKEN: s.token },
      });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`CUTOVER_E_CONFLICT: .* is in use by another cutover \\(pid ${d.child.pid}\\)`));
      const after = await processes(d);
      assert.deepEqual(after.routers, before.routers, 'the same router processes: none replaced by the refused config');
      assert.equal(after.controllers, 1);
      const sw = await d.api('POST', '/api/v1/services/web/switch', { slot: 'green' });
      assert.equal(sw.status, 200, JSON.stringify(sw.json));
      await waitFor('green to answer', async () => (await (await fetch(`http://127.0.0.1:${s.port}/`)).text()) === 'green');
    } finally {
      await d.stop();
    }
  } finally {
    cleanup(s);
    await blue.close();
    await green.close();
  }
});
