// The process provider's scale-up (previewReplicas) against real child processes: a slot started
// with fewer replicas gets the rest on new ports, and a new replica that dies fails the scale-up
// with its output while the replicas already serving stay.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isProviderError } from '../src/providers/errors.ts';
import { ProcessProviderImpl } from '../src/providers/process.ts';
import { askWhenUp, isGone } from './fixtures/providers/probe.ts';

const APP = fileURLToPath(new URL('./fixtures/providers/app.ts', import.meta.url));

/** Replicas that start the fixture app, or exit 3 once `mark` exists. */
async function setup(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'cutover-scale-up-'));
  const mark = join(dir, 'refuse');
  const command = ['/bin/sh', '-c', `if [ -e '${mark}' ]; then echo "refusing to start"; exit 3; fi; exec '${process.execPath}' '${APP}'`];
  const provider = new ProcessProviderImpl({
    service: 'web',
    stateDir: join(dir, 'state'),
    stableFor: 300,
    config: { kind: 'process', command, replicas: 3, previewReplicas: 1, cwd: dir, env: {}, stopGrace: 2000 },
  });
  const pids = new Set<number>();
  provider.onReplicaEvent((e) => {
    if (e.pid) pids.add(e.pid);
  });
  t.after(async () => {
    await provider.close();
    for (const pid of pids) if (!isGone(pid)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  return { provider, mark };
}

test('a slot provisioned with 1 replica is scaled up to 3 on new ports, the first one kept, and a second scale-up starts nothing', async (t) => {
  const { provider } = await setup(t);
  const d = await provider.provision('blue', '1.0.0', { replicas: 1 });
  assert.equal(d.targets.length, 1);
  const firstPid = provider.replicas('blue')[0]?.pid;
  const up = await provider.scaleUp('blue');
  assert.equal(up.targets.length, 3);
  assert.equal(up.targets[0], d.targets[0], 'the previewed replica stays');
  assert.equal(new Set(up.targets).size, 3, 'each on its own port');
  for (const target of up.targets) assert.equal((await askWhenUp(target)).env.CUTOVER_VERSION, '1.0.0');
  assert.equal(provider.replicas('blue')[0]?.pid, firstPid);
  const again = await provider.scaleUp('blue');
  assert.deepEqual(again.targets, up.targets);
  assert.deepEqual(
    provider.replicas('blue').map((r) => r.index),
    [0, 1, 2],
  );
});

test('a new replica that exits during the scale-up fails it with its output; the replica already serving keeps serving', async (t) => {
  const { provider, mark } = await setup(t);
  const d = await provider.provision('blue', '1.0.0', { replicas: 1 });
  await writeFile(mark, '');
  await assert.rejects(provider.scaleUp('blue'), (err) => {
    assert.ok(isProviderError(err, 'CUTOVER_E_PROVISION_FAILED'), String(err));
    assert.match(err.message, /replica [12] of web\/blue \(version 1\.0\.0\) exited with code 3.*refusing to start/s);
    return true;
  });
  assert.deepEqual(provider.deployment('blue')?.targets, d.targets, 'the slot is as it was');
  assert.equal(provider.replicas('blue').length, 1);
  assert.equal((await askWhenUp(d.targets[0]!)).env.CUTOVER_VERSION, '1.0.0');
});
