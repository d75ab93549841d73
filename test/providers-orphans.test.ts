// Replicas never outlive the daemon, even a SIGKILLed one. A stand-in daemon (fixtures/daemon.ts)
// provisions two replicas, each of which starts a child of its own; the test SIGKILLs the daemon
// (no handler, no cleanup code runs in it) and then every replica, every child of a replica and the
// watchdog must be gone within a bounded time, and the ports must refuse connections.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { askWhenUp, isGone, servedByUs, waitUntil } from './fixtures/providers/probe.ts';

const DAEMON = fileURLToPath(new URL('./fixtures/providers/daemon.ts', import.meta.url));

interface DaemonReport {
  pid: number;
  watchdog: number;
  targets: string[];
  replicas: number[];
}

/** Start the stand-in daemon and read the line it prints once its replicas run. */
async function startDaemon(t: TestContext, grace: number, mode: 'honour-term' | 'ignore-term') {
  const stateDir = await mkdtemp(join(tmpdir(), 'cutover-orphans-'));
  const daemon: ChildProcess = spawn(process.execPath, [DAEMON, stateDir, String(grace), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  daemon.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const started: number[] = [];
  t.after(async () => {
    // Only what this test started, and only what is somehow still running (the test failed).
    for (const pid of started) if (!isGone(pid)) process.kill(pid, 'SIGKILL');
    await rm(stateDir, { recursive: true, force: true });
  });
  // Report lines as they come; next() waits for the next one, bounded.
  const lines: string[] = [];
  let buffered = '';
  daemon.stdout!.setEncoding('utf8').on('data', (c: string) => {
    buffered += c;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      lines.push(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  });
  const next = async (withinMs: number): Promise<DaemonReport> => {
    const ok = await waitUntil(() => lines.length > 0 || daemon.exitCode !== null, withinMs);
    assert.ok(ok && lines.length > 0, `the daemon reported within ${withinMs} ms (exit ${daemon.exitCode}); stderr: ${stderr}`);
    const report = JSON.parse(lines.shift()!) as DaemonReport;
    started.push(report.watchdog);
    return report;
  };
  const report = await next(15_000);
  started.push(report.pid, report.watchdog, ...report.replicas);
  const answers = await Promise.all(report.targets.map((target) => askWhenUp(target)));
  const grandchildren = answers.map((a) => a.grandchild).filter((pid): pid is number => pid !== null);
  started.push(...grandchildren);
  assert.deepEqual(
    answers.map((a) => a.pid),
    report.replicas,
  );
  assert.equal(grandchildren.length, 2, 'each replica started a child of its own');
  const exited = new Promise<NodeJS.Signals | null>((resolve) => daemon.once('exit', (_code, signal) => resolve(signal)));
  return { daemon, report, grandchildren, exited, next, stderr: () => stderr };
}

for (const { mode, grace } of [
  { mode: 'honour-term', grace: 3000 },
  { mode: 'ignore-term', grace: 700 },
] as const) {
  test(`replicas that ${mode === 'honour-term' ? 'honour' : 'ignore'} SIGTERM and their children die when the daemon is SIGKILLed`, async (t) => {
    const { daemon, report, grandchildren, exited, stderr } = await startDaemon(t, grace, mode);
    const everything = [...report.replicas, ...grandchildren, report.watchdog];
    assert.ok(
      everything.every((pid) => !isGone(pid)),
      'all running before the kill',
    );

    const killedAt = Date.now();
    daemon.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');

    const allGone = await waitUntil(() => everything.every(isGone), grace + 5000);
    const took = Date.now() - killedAt;
    assert.ok(
      allGone,
      `gone within ${grace + 5000} ms: ${everything.filter((pid) => !isGone(pid)).join(', ') || 'none'} left; stderr: ${stderr()}`,
    );
    if (mode === 'honour-term') {
      assert.ok(took < grace, `SIGTERM was enough: gone after ${took} ms, before the ${grace} ms grace`);
    } else {
      assert.ok(took >= grace - 100, `SIGTERM was ignored, so SIGKILL came after the grace: ${took} ms`);
    }
    for (const target of report.targets) assert.equal(await servedByUs(target, everything), null, `${target} is closed`);
    assert.match(stderr(), /cutover watchdog: the daemon is gone; stopping 2 replica group\(s\)/);
  });
}

test('a watchdog killed while the daemon lives is replaced, and the replacement still ends the replicas', async (t) => {
  const { daemon, report, grandchildren, exited, next, stderr } = await startDaemon(t, 1000, 'honour-term');
  process.kill(report.watchdog, 'SIGKILL');
  const replaced = await next(5000);
  assert.notEqual(replaced.watchdog, report.watchdog);
  assert.ok(await waitUntil(() => isGone(report.watchdog), 2000), 'the old watchdog is gone');
  assert.ok(!isGone(replaced.watchdog), 'a new one runs');
  assert.deepEqual(replaced.replicas, report.replicas, 'the replicas were left alone');

  daemon.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  const everything = [...report.replicas, ...grandchildren, replaced.watchdog];
  assert.ok(
    await waitUntil(() => everything.every(isGone), 6000),
    `gone: ${everything.filter((pid) => !isGone(pid)).join(', ') || 'all'} left; stderr: ${stderr()}`,
  );
  for (const target of report.targets) assert.equal(await servedByUs(target, everything), null, `${target} is closed`);
});
