// The router processes the real daemon starts run with the V8 flags of router/workers.ts
// (bench/README.md, "Router processes: what the allocator keeps"): read from /proc/<pid>/cmdline, on
// a listener of its own (WorkerRouterHost) and on one shared by host (EdgeWorkerGroup).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { freePort, startUpstream, waitFor } from './helpers.ts';
import { cleanup, startUp } from './lifecycle-helpers.ts';
import { processes, serving, writeStaticServices } from './supervisor-helpers.ts';

test('every router process the daemon starts, on its own listener and on a shared one, runs with the V8 flags that keep idle connections small', async () => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  const ownPort = await freePort();
  const s = await writeStaticServices({
    web: { blue: blue.address, green: green.address, listen: `127.0.0.1:${ownPort}`, workers: 2 },
    app: { blue: blue.address, green: green.address, hosts: ['app.test'] },
    api: { blue: blue.address, green: green.address, hosts: ['api.test'] },
  });
  const d = await startUp(s);
  try {
    await serving(ownPort);
    const own = (await processes(d, 'web')).routers;
    const shared = await waitFor('the shared listener to run', async () => {
      const routers = (await processes(d, 'app')).routers;
      return routers.length > 0 ? routers : undefined;
    });
    assert.equal(own.length, 2, 'web runs its two router processes');
    assert.equal(own.filter((p) => shared.includes(p)).length, 0, 'the two listeners run in different processes');
    const argv = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    for (const pid of own)
      assert.ok(
        argv(pid).some((a) => a.endsWith('src/router/worker.ts')),
        `web's ${pid} is a service's router`,
      );
    for (const pid of shared)
      assert.ok(
        argv(pid).some((a) => a.endsWith('src/edge/worker.ts')),
        `app's ${pid} is an edge router`,
      );
    for (const pid of [...own, ...shared])
      for (const flag of ['--max-semi-space-size=1', '--optimize-for-size'])
        assert.ok(argv(pid).includes(flag), `router ${pid} runs with ${flag}: ${argv(pid).join(' ')}`);
  } finally {
    await d.stop();
    cleanup(s);
    await blue.close();
    await green.close();
  }
});
