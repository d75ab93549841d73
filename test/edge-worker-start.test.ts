// The edge's router processes (TLS, hosts, HTTP/2, shared listeners) as the plain ones
// (test/router-worker-start.test.ts): one that does not take its services in time is killed, the
// wait fails with a coded error that names it, and a new process takes its place and serves. The
// stuck process is a real one, stopped with SIGSTOP.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { EdgeWorkerGroup } from '../src/edge/worker-group.ts';
import { CutoverError } from '../src/errors.ts';
import { createLogger } from '../src/log.ts';
import { liveSpec } from './edge-helpers.ts';
import { freePort, startUpstream, testRouterOptions, waitFor } from './helpers.ts';
import { alive } from './supervisor-helpers.ts';

/** The body of a GET for `host`, or undefined for any other answer or none. */
function get(port: number, host: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 ? body : undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

test('an edge router process that does not take its services in time is killed and started again, and the wait fails with CUTOVER_E_LISTEN', async () => {
  const up = await startUpstream('blue');
  const port = await freePort();
  const group = new EdgeWorkerGroup(1, createLogger({ level: 'error' }), null, 5000);
  try {
    await group.add('app', {
      opts: { ...testRouterOptions(port, { service: 'app' }), reusePort: true },
      edge: { hosts: ['app.test'], stripPrefix: true },
      spec: liveSpec('app', [up.address], [], 'blue', 1),
      health: new Map([[up.address, true]]),
    });
    const starting = group.start();
    const stuck = group.processes('app')[0]!.pid!;
    // Stopped before it could take its service: it never will.
    process.kill(stuck, 'SIGSTOP');
    await assert.rejects(starting, (err: unknown) => {
      assert.ok(err instanceof CutoverError, String(err));
      assert.equal(err.code, 'CUTOVER_E_LISTEN');
      assert.match(err.message, new RegExp(`router worker 0 \\(pid ${stuck}\\) did not take its services within 5000 ms`));
      return true;
    });
    await waitFor('the stuck process to be gone', () => !alive(stuck) || undefined);
    const answer = await waitFor('its successor to answer', () => get(port, 'app.test'));
    assert.equal(answer, 'blue');
    const now = group.processes('app')[0]!;
    assert.notEqual(now.pid, stuck);
    assert.equal(now.restarts, 1);
  } finally {
    await group.close(0);
    await up.close();
  }
});
