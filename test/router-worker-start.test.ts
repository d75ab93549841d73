// A router process that never comes up (stopped, stuck loading) must not hold whoever waits for it
// for ever: after the start timeout it is killed, the wait fails with a coded error that names it,
// and a new process takes its place and serves. The stuck process is a real one, stopped with SIGSTOP.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CutoverError } from '../src/errors.ts';
import { createLogger } from '../src/log.ts';
import { WorkerRouterHost } from '../src/router/workers.ts';
import { liveSpec } from './edge-helpers.ts';
import { freePort, startUpstream, testRouterOptions, waitFor } from './helpers.ts';
import { alive } from './supervisor-helpers.ts';

test('a router process that does not start listening in time is killed and started again, and the wait for it fails with CUTOVER_E_LISTEN', async () => {
  const up = await startUpstream('blue');
  const port = await freePort();
  const host = new WorkerRouterHost(testRouterOptions(port), 1, createLogger({ level: 'error' }), undefined, 5000);
  try {
    const listening = host.listen();
    const stuck = host.processes()[0]!.pid!;
    // Stopped before it could say it listens: it never will.
    process.kill(stuck, 'SIGSTOP');
    await assert.rejects(listening, (err: unknown) => {
      assert.ok(err instanceof CutoverError, String(err));
      assert.equal(err.code, 'CUTOVER_E_LISTEN');
      assert.match(err.message, new RegExp(`router worker 0 \\(pid ${stuck}\\) did not start listening within 5000 ms`));
      return true;
    });
    await waitFor('the stuck process to be gone', () => !alive(stuck) || undefined);
    // Its successor serves the table applied to the host.
    host.setHealth(up.address, true);
    await waitFor('a new router process', () => {
      const p = host.processes()[0];
      return p !== undefined && p.pid !== null && p.pid !== stuck && p.restarts === 1 ? p : undefined;
    });
    await host.apply(liveSpec('web', [up.address], [], 'blue', 1));
    const answer = await waitFor('the new process to answer', async () => {
      const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) });
      return r.status === 200 ? r.text() : undefined;
    });
    assert.equal(answer, 'blue');
  } finally {
    await host.close(0);
    await up.close();
  }
});
