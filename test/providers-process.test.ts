// The process provider against real child processes and real sockets: the fixture app answers HTTP
// on PORT with what it was started with.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ProcessProvider } from '../src/config/types.ts';
import { isProviderError } from '../src/providers/errors.ts';
import { ask, askWhenUp, isGone, servedByUs, waitUntil } from './fixtures/providers/probe.ts';
import { tailServiceLogs } from '../src/providers/logs.ts';
import { ProcessProviderImpl, type ProcessProviderOptions } from '../src/providers/process.ts';
import type { ReplicaEvent } from '../src/providers/types.ts';

const APP = fileURLToPath(new URL('./fixtures/providers/app.ts', import.meta.url));

async function setup(t: TestContext, config: Partial<ProcessProvider> = {}, opts: Partial<ProcessProviderOptions> = {}) {
  const stateDir = await mkdtemp(join(tmpdir(), 'cutover-process-'));
  const provider = new ProcessProviderImpl({
    service: 'web',
    stateDir,
    stableFor: 300,
    config: { kind: 'process', command: [process.execPath, APP], replicas: 2, cwd: process.cwd(), env: {}, stopGrace: 2000, ...config },
    ...opts,
  });
  const events: ReplicaEvent[] = [];
  const pids = new Set<number>();
  provider.onReplicaEvent((e) => {
    events.push(e);
    if (e.pid) pids.add(e.pid);
  });
  t.after(async () => {
    await provider.close();
    // Only pids this test's provider started; normally close() has ended them all already.
    for (const pid of pids) if (!isGone(pid)) process.kill(pid, 'SIGKILL');
    await rm(stateDir, { recursive: true, force: true });
  });
  /** Wait (bounded) for an event that matches. */
  const event = async (match: (e: ReplicaEvent) => boolean, withinMs = 5000): Promise<ReplicaEvent> => {
    assert.ok(await waitUntil(() => events.some(match), withinMs), 'the expected replica event arrived in time');
    return events.find(match)!;
  };
  return { provider, events, pids, stateDir, event };
}

test('provision starts the replicas on their own ports with slot, version, service and {version} in their environment', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'cutover-cwd-'));
  t.after(() => rm(base, { recursive: true, force: true }));
  await mkdir(join(base, 'releases', '1.2.3'), { recursive: true });
  const { provider } = await setup(
    t,
    {
      command: [process.execPath, APP, '--release={version}'],
      cwd: join(base, 'releases', '{version}'),
      env: { GREETING: 'hello {version}' },
    },
    { env: { ...process.env, CUTOVER_TOKEN: 'daemon-secret' } },
  );

  const deployment = await provider.provision('green', '1.2.3');
  assert.equal(deployment.slot, 'green');
  assert.equal(deployment.version, '1.2.3');
  assert.equal(deployment.targets.length, 2);
  assert.notEqual(deployment.targets[0], deployment.targets[1]);
  assert.deepEqual(provider.deployment('green'), deployment);

  for (const target of deployment.targets) {
    assert.match(target, /^127\.0\.0\.1:\d+$/);
    const answer = await askWhenUp(target);
    assert.deepEqual(answer.env, {
      PORT: target.split(':')[1],
      CUTOVER_SLOT: 'green',
      CUTOVER_VERSION: '1.2.3',
      CUTOVER_SERVICE: 'web',
      GREETING: 'hello 1.2.3',
    });
    assert.deepEqual(answer.argv, ['--release=1.2.3']);
    assert.equal(answer.cwd, join(base, 'releases', '1.2.3'));
  }
  assert.deepEqual(
    provider.replicas('green').map((r) => [r.state, r.restarts]),
    [
      ['running', 0],
      ['running', 0],
    ],
  );
});

test('a replica killed with SIGKILL is restarted on the same port with growing backoff, and counted', async (t) => {
  const { provider, events, event } = await setup(t, { replicas: 1 });
  const [target] = (await provider.provision('blue', 'v1')).targets;
  assert.ok(target);
  const first = await askWhenUp(target);

  process.kill(first.pid, 'SIGKILL');
  const exit = await event((e) => e.type === 'replica-exit' && e.pid === first.pid);
  assert.equal(exit.type === 'replica-exit' && exit.signal, 'SIGKILL');
  assert.equal(exit.type === 'replica-exit' && exit.restartIn, 100);
  const restarted = await event((e) => e.type === 'replica-start' && e.restarts === 1);
  assert.equal(restarted.target, target);
  assert.ok(
    await waitUntil(async () => (await ask(target).catch(() => null))?.pid === restarted.pid, 5000),
    'the new process answers on the old port',
  );

  process.kill(restarted.pid!, 'SIGKILL');
  const second = await event((e) => e.type === 'replica-exit' && e.pid === restarted.pid);
  assert.equal(second.type === 'replica-exit' && second.restartIn, 200, 'the second quick death waits twice as long');
  const again = await event((e) => e.type === 'replica-start' && e.restarts === 2);
  assert.equal(again.slotRestarts, 2);
  assert.equal(provider.replicas('blue')[0]?.restarts, 2);
  assert.equal(provider.replicas('blue')[0]?.lastExit?.signal, 'SIGKILL');
  assert.deepEqual(provider.deployment('blue')?.targets, [target], 'the target stays the same through restarts');
  assert.equal(events.filter((e) => e.type === 'replica-exit').length, 2);
});

test('a replica that stayed up long enough is restarted after the shortest delay again', async (t) => {
  const { provider, event } = await setup(t, { replicas: 1 }, { backoff: { initial: 50, max: 400, resetAfter: 2500 } });
  const [target] = (await provider.provision('blue', 'v1')).targets;
  const delays: (number | null)[] = [];
  for (const upFor of [0, 0, 2700]) {
    const { pid } = await askWhenUp(target!);
    await new Promise((r) => setTimeout(r, upFor));
    process.kill(pid, 'SIGKILL');
    const exit = await event((e) => e.type === 'replica-exit' && e.pid === pid);
    delays.push(exit.type === 'replica-exit' ? exit.restartIn : null);
  }
  assert.deepEqual(delays, [50, 100, 50]);
});

test('a command that exits at once fails provisioning fast, with its last output lines in the reason', async (t) => {
  const { provider, pids } = await setup(t, { env: { FIXTURE_MODE: 'crash' } });
  const started = Date.now();
  await assert.rejects(provider.provision('blue', '2.0.0', { stableFor: 10_000 }), (err: Error) => {
    assert.ok(isProviderError(err, 'CUTOVER_E_PROVISION_FAILED'), `a provision failure, not ${err}`);
    assert.match(err.message, /replica \d of web\/blue \(version 2\.0\.0\) exited with code 3/);
    assert.match(err.message, /booting step 30\n {2}\| fatal: cannot connect to database/);
    assert.match(err.message, /\| booting step 12\n/, 'the last 20 lines are quoted');
    assert.doesNotMatch(err.message, /booting step 11\n/, 'but not more');
    assert.equal(err.failure?.exit?.code, 3);
    assert.equal(err.failure?.lastLines.length, 20);
    return true;
  });
  assert.ok(Date.now() - started < 5000, 'it did not wait for the window to end');
  assert.equal(provider.deployment('blue'), null);
  assert.deepEqual(provider.replicas('blue'), []);
  assert.ok(await waitUntil(() => [...pids].every(isGone), 3000), 'the other replica was stopped too');
});

test('a program that does not exist, or a missing cwd, fails provisioning naming the config key to fix', async (t) => {
  const { provider } = await setup(t, { command: ['/nonexistent/cutover-app-{version}'] });
  await assert.rejects(provider.provision('blue', '7'), (err: Error) => {
    assert.ok(isProviderError(err, 'CUTOVER_E_PROVISION_FAILED'));
    assert.match(err.message, /could not be started: .*ENOENT/);
    assert.match(err.message, /provider\.command/);
    return true;
  });
  const missing = await setup(t, { cwd: '/nonexistent/releases/{version}' });
  await assert.rejects(missing.provider.provision('green', '7'), (err: Error) => {
    assert.ok(isProviderError(err, 'CUTOVER_E_PROVISION_FAILED'));
    assert.match(err.message, /\/nonexistent\/releases\/7 .*provider\.cwd/);
    return true;
  });
  assert.equal(missing.pids.size, 0, 'nothing was started');
});

test('stop sends SIGTERM, then SIGKILL to a replica that ignores it once the grace is over', async (t) => {
  const grace = 800;
  const { provider, event, stateDir } = await setup(t, {
    replicas: 1,
    stopGrace: grace,
    env: { FIXTURE_IGNORE_TERM: '1', FIXTURE_GRANDCHILD: '1' },
  });
  const [target] = (await provider.provision('blue', 'v1')).targets;
  assert.ok(target);
  // Once it answers, its SIGTERM handler is installed.
  const { pid, grandchild } = await askWhenUp(target);
  assert.ok(grandchild);

  const started = Date.now();
  await provider.stop('blue');
  const took = Date.now() - started;
  assert.ok(took >= grace - 50, `waited the grace (${took} ms)`);
  assert.ok(took < grace + 3000, `and not much longer (${took} ms)`);
  const exit = await event((e) => e.type === 'replica-exit' && e.pid === pid);
  assert.equal(exit.type === 'replica-exit' && exit.signal, 'SIGKILL');
  assert.equal(exit.type === 'replica-exit' && exit.restartIn, null, 'a stopped replica is not restarted');
  assert.ok(isGone(pid));
  assert.ok(await waitUntil(() => isGone(grandchild), 2000), 'the process it started went with it');
  assert.equal(await servedByUs(target, [pid]), null);
  const log = await readFile(join(stateDir, 'logs', 'web', 'blue.log'), 'utf8');
  assert.match(log, /\[0 out\] received SIGTERM; ignoring it/);
  assert.match(log, /did not stop within 800 ms; sent SIGKILL/);
  assert.equal(provider.deployment('blue'), null);
});

test('stop of replicas that honour SIGTERM returns as soon as they exit', async (t) => {
  const { provider, event, stateDir, pids } = await setup(t, { stopGrace: 10_000 });
  const { targets } = await provider.provision('blue', 'v1');
  for (const target of targets) await askWhenUp(target);
  const started = Date.now();
  await provider.stop('blue');
  assert.ok(Date.now() - started < 3000, 'well before the 10 s grace');
  for (const target of targets) assert.equal(await servedByUs(target, [...pids]), null);
  const exit = await event((e) => e.type === 'replica-exit');
  assert.equal(exit.type === 'replica-exit' && exit.code, 0);
  const log = await readFile(join(stateDir, 'logs', 'web', 'blue.log'), 'utf8');
  assert.match(log, /\[1 out\] received SIGTERM; shutting down/);
  assert.match(
    log,
    /\[cutover\] provisioned version v1 at 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+\n[\s\S]*\[cutover\] stopped version v1\n$/,
    'with what cutover did',
  );
});

test("replicas' output lands in the slot log, and tail returns its last lines", async (t) => {
  const { provider, stateDir } = await setup(t, { replicas: 1, env: { FIXTURE_LINES: '500' } }, { log: { maxBytes: 8 * 1024, files: 2 } });
  const [target] = (await provider.provision('green', 'v9')).targets;
  const port = target!.split(':')[1];
  const listening = async (): Promise<boolean> =>
    (await tailServiceLogs(stateDir, 'web', { slot: 'green', lines: 3 })).some((l) => l.endsWith(`[0 out] listening on ${port}`));
  assert.ok(await waitUntil(listening, 10_000), 'the app printed all it prints at start');
  const read = (name: string): Promise<string[]> =>
    readFile(join(stateDir, 'logs', 'web', name), 'utf8').then(
      (text) => text.trimEnd().split('\n').filter(Boolean),
      () => [],
    );
  const files = [...(await read('green.log.1')), ...(await read('green.log'))];
  assert.deepEqual(await tailServiceLogs(stateDir, 'web', { slot: 'green', lines: 3 }), files.slice(-3));

  const both = await tailServiceLogs(stateDir, 'web', { lines: 10_000 });
  assert.ok(
    both.every((l) => l.startsWith('green ')),
    'only green ran, and each line says so',
  );
  const all = both.map((l) => l.replace(/^green \S+ /, ''));
  const last = all.indexOf('[0 out] line 500 of 500');
  assert.ok(last >= 0, "the app's last line is in the log");
  assert.ok(all.indexOf(`[0 out] listening on ${port}`) > last, 'after it, the next one');
  assert.ok(!all.includes('[0 out] line 1 of 500'), 'rotation dropped the oldest lines');
  assert.ok(all.length < 500);
});

test('provisioning the version a slot runs keeps it; another version replaces it', async (t) => {
  const { provider, pids } = await setup(t);
  const first = await provider.provision('blue', 'v1');
  const firstPids = provider.replicas('blue').map((r) => r.pid);
  assert.deepEqual(await provider.provision('blue', 'v1'), first);
  assert.deepEqual(
    provider.replicas('blue').map((r) => r.pid),
    firstPids,
  );

  const second = await provider.provision('blue', 'v2');
  for (const pid of firstPids) assert.ok(pid && isGone(pid), 'the old version was stopped');
  for (const target of second.targets) assert.equal((await askWhenUp(target)).env.CUTOVER_VERSION, 'v2');
  assert.equal(pids.size, 4);
});

test('aborting provisioning stops what it started and rejects', async (t) => {
  const { provider, pids, event } = await setup(t);
  const ac = new AbortController();
  const pending = provider.provision('green', 'v1', { signal: ac.signal, stableFor: 10_000 });
  await event((e) => e.type === 'replica-start');
  ac.abort(new Error('operator aborted the release'));
  await assert.rejects(pending, (err) => isProviderError(err, 'CUTOVER_E_PROVISION_ABORTED'));
  assert.ok([...pids].every(isGone));
  assert.equal(provider.deployment('green'), null);
});

test('close stops every slot, and provisioning after it is refused', async (t) => {
  const { provider, pids } = await setup(t, { replicas: 1 });
  const blue = await provider.provision('blue', 'v1');
  const green = await provider.provision('green', 'v2');
  assert.equal(pids.size, 2);
  await provider.close();
  assert.ok([...pids].every(isGone));
  for (const target of [...blue.targets, ...green.targets]) assert.equal(await servedByUs(target, [...pids]), null);
  await assert.rejects(provider.provision('blue', 'v3'), (err) => isProviderError(err, 'CUTOVER_E_PROVIDER_CLOSED'));
});
