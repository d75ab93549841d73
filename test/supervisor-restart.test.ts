// SIGHUP and `POST /restart` restart the controller in place (same pid, code and config from disk)
// while the supervisor's routers serve: no request fails, and an invalid config changes nothing.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse, stringify } from 'yaml';
import { startUpstream, waitFor } from './helpers.ts';
import { cleanup, startUp, waitPhase } from './lifecycle-helpers.ts';
import { keepAliveLoad, processes, serving, writeStatic } from './supervisor-helpers.ts';

const ATTACHED = '"msg":"attached to the supervisor"';
const count = (text: string, what: string): number => text.split(what).length - 1;

test('SIGHUP five times under keep-alive load, one adding a gate: 0 failed, same pid and routers; an invalid config changes nothing', async () => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  const s = await writeStatic(blue.address, green.address, {
    standby: '1s',
    analysis: { interval: '500ms', window: '500ms', inconclusive: 'pass' },
  });
  const d = await startUp(s);
  try {
    await serving(s.port);
    const before = await processes(d);
    const pid = d.child.pid;
    const load = keepAliveLoad(s.port, 10);
    try {
      for (let i = 0; i < 5; i++) {
        if (i === 2) {
          const cfg = parse(readFileSync(s.file, 'utf8'));
          cfg.services.web.gates = [{ http: { requests: [{ path: '/', expect: { status: 200 } }] } }];
          writeFileSync(s.file, stringify(cfg));
        }
        d.child.kill('SIGHUP');
        await waitFor(`restart ${i + 1} to attach`, () => count(d.output(), ATTACHED) === i + 2, 30_000);
        await waitFor('the API again', async () => (await d.api('GET', '/api/v1/services/web')).status === 200, 30_000);
      }
      const valid = readFileSync(s.file, 'utf8');
      writeFileSync(s.file, valid.replace(/listen: 127\.0\.0\.1:\d+\n(\s+drain)/, 'listen: nowhere\n$1'));
      d.child.kill('SIGHUP');
      await waitFor('the refusal in the log', () => d.output().includes('restart refused'), 15_000);
      const refused = await d.api('POST', '/api/v1/restart');
      assert.equal(refused.status, 400, JSON.stringify(refused.json));
      assert.equal(refused.json.error.code, 'CUTOVER_E_CONFIG_INVALID');
      assert.equal(count(d.output(), ATTACHED), 6, 'no restart happened on the invalid config');
      writeFileSync(s.file, valid);

      const after = await processes(d);
      assert.equal(d.child.pid, pid, 'the pid systemd knows stays');
      assert.equal(d.child.exitCode, null);
      assert.equal(after.supervisor, before.supervisor);
      assert.deepEqual(after.routers, before.routers, 'the same router processes served throughout');
      assert.equal(after.controllers, 1);

      // The config read at the third restart holds: the next release runs the new gate.
      const r = await d.api('POST', '/api/v1/services/web/releases', { version: 'v2' });
      assert.equal(r.status, 202, JSON.stringify(r.json));
      const done = await waitPhase(d, r.json.id, ['promoted', 'retired']);
      assert.ok(
        done.gates.some((g: { kind?: string; name?: string }) => JSON.stringify(g).includes('http')),
        JSON.stringify(done.gates),
      );

      const res = await load.stop();
      assert.deepEqual(res.failures, [], `failed requests across five restarts (${res.ok} ok)`);
      process.stdout.write(`# five SIGHUP restarts under load: ${res.ok} ok, 0 failed, longest gap ${res.maxGapMs} ms\n`);
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
