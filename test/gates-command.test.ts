// The command gate with real processes: exit codes decide, the environment tells where the idle slot
// is, output is kept (bounded), and a command that hangs is killed with its whole process group.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCommandGate } from '../src/gates/command.ts';
import type { GateContext } from '../src/gates/types.ts';
import { procStat } from '../src/providers/groups.ts';

const TOKEN = 'preview-secret-77ab';

/** Running, as a user would say: a zombie left to a PID 1 that does not reap runs nothing. */
function running(pid: number): boolean {
  const s = procStat(pid);
  return s !== null && s.state !== 'Z' && s.state !== 'X';
}

function pidsIn(output: unknown): number[] {
  return [...String(output).matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
}

describe('command gate', () => {
  let dir: string;
  let ctx: GateContext;
  const started: number[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cutover-gates-'));
    ctx = {
      service: 'web',
      version: 'v2.3.0',
      slot: 'green',
      previewUrl: 'http://127.0.0.1:8080',
      previewHeader: 'x-cutover-preview',
      previewToken: TOKEN,
      directTargets: ['127.0.0.1:41001', '127.0.0.1:41002'],
      cwd: dir,
    };
  });
  after(() => {
    // Only what these tests started, in case an assertion failed before the gate killed it.
    for (const pid of started) {
      if (!running(pid)) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('exit code 0 passes and any other code fails, with the output kept and the last line in the summary', async () => {
    const ok = await runCommandGate({ run: 'echo checking; echo all 12 tests passed', timeout: 10_000 }, ctx);
    assert.equal(ok.outcome, 'passed');
    assert.equal(ok.kind, 'command');
    assert.equal(ok.summary, 'exited with code 0: all 12 tests passed');
    assert.equal(ok.details.output, 'checking\nall 12 tests passed');

    const bad = await runCommandGate({ run: 'echo "1 test failed: checkout" >&2; exit 3', timeout: 10_000 }, ctx);
    assert.equal(bad.outcome, 'failed');
    assert.equal(bad.summary, 'exited with code 3: 1 test failed: checkout');
    assert.equal(bad.details.exitCode, 3);
    assert.equal(bad.details.output, '1 test failed: checkout', 'stderr is captured with stdout');

    const missing = await runCommandGate({ run: 'no-such-program-here --e2e', timeout: 10_000 }, ctx);
    assert.equal(missing.outcome, 'failed');
    assert.match(missing.summary, /^exited with code 127: .*not found/);
  });

  test("the program sees where the idle slot is, in its working folder, but not the daemon's admin token", async () => {
    process.env.CUTOVER_TOKEN = 'daemon-admin-token';
    try {
      const run = [
        'echo "url=$CUTOVER_PREVIEW_URL header=$CUTOVER_PREVIEW_HEADER"',
        'echo "service=$CUTOVER_SERVICE version=$CUTOVER_VERSION slot=$CUTOVER_SLOT targets=$CUTOVER_TARGETS"',
        `test "$CUTOVER_PREVIEW_TOKEN" = "${TOKEN}" && echo token-given`,
        'echo "token=$CUTOVER_PREVIEW_TOKEN admin=${CUTOVER_TOKEN:-none}"',
        'echo "cwd=$(pwd)"',
      ].join('; ');
      const r = await runCommandGate({ run, timeout: 10_000 }, ctx);
      assert.equal(r.outcome, 'passed', r.summary);
      assert.equal(
        r.details.output,
        [
          'url=http://127.0.0.1:8080 header=x-cutover-preview',
          'service=web version=v2.3.0 slot=green targets=127.0.0.1:41001,127.0.0.1:41002',
          'token-given',
          'token=[preview token] admin=none',
          `cwd=${dir}`,
        ].join('\n'),
      );
      assert.ok(!JSON.stringify(r).includes(TOKEN), 'the token a program prints is not kept');
    } finally {
      delete process.env.CUTOVER_TOKEN;
    }
  });

  test('only the last lines of a long output are kept, each line cut', async () => {
    const r = await runCommandGate(
      {
        run: 'i=0; while [ $i -lt 5000 ]; do echo "line $i"; i=$((i+1)); done; head -c 3000 /dev/zero | tr "\\0" x; echo',
        timeout: 10_000,
      },
      ctx,
    );
    assert.equal(r.outcome, 'passed');
    const lines = String(r.details.output).split('\n');
    assert.equal(lines.length, 40);
    assert.equal(lines[0], 'line 4961');
    assert.equal(r.details.outputLines, 5001);
    assert.ok((lines.at(-1) ?? '').length < 500, 'a very long line is cut');
  });

  test('a command that hangs is killed with its process group at its timeout, even a child that ignores SIGTERM', async () => {
    const run = ['sleep 60 & echo "pid $!"', `sh -c 'trap "" TERM; sleep 61' & echo "pid $!"`, 'echo started; wait'].join('; ');
    const t0 = Date.now();
    const gate = runCommandGate({ run, timeout: 700 }, ctx);
    const r = await gate;
    const took = Date.now() - t0;
    const pids = pidsIn(r.details.output);
    started.push(...pids);
    assert.equal(r.outcome, 'timeout');
    assert.equal(r.summary, 'still running after its timeout (700 ms); killed with its process group');
    assert.equal(pids.length, 2);
    for (const pid of pids) assert.equal(running(pid), false, `process ${pid} of the gate still runs`);
    // The child that ignores SIGTERM only goes with SIGKILL, 2 s after the timeout.
    assert.ok(took >= 700 + 1900 && took < 700 + 2000 + 3000, `took ${took} ms`);
    assert.match(String(r.details.output), /started/);
  });

  test('an aborted release stops its running command at once', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const gate = runCommandGate({ run: 'sleep 30 & echo "pid $!"; wait', timeout: 60_000 }, { ...ctx, signal: ac.signal });
    setTimeout(() => ac.abort(), 300);
    const r = await gate;
    const pids = pidsIn(r.details.output);
    started.push(...pids);
    assert.equal(r.outcome, 'error');
    assert.equal(r.details.aborted, true);
    assert.ok(Date.now() - t0 < 3000);
    assert.equal(pids.length, 1);
    assert.equal(running(pids[0] ?? 0), false);
  });

  test('what a passing command leaves running in its group is stopped when it exits', async () => {
    const marker = join(dir, 'leftover-ran');
    const r = await runCommandGate(
      { run: `(sleep 1.5; touch ${marker}) >/dev/null 2>&1 & echo "pid $!"; echo done`, timeout: 10_000 },
      ctx,
    );
    const pids = pidsIn(r.details.output);
    started.push(...pids);
    assert.equal(r.outcome, 'passed');
    assert.equal(r.details.killedLeftovers, true);
    assert.equal(running(pids[0] ?? 0), false);
    await new Promise((res) => setTimeout(res, 1700));
    assert.equal(existsSync(marker), false, 'the leftover never got to run to its end');
  });

  test('a working folder that does not exist is an error that says so', async () => {
    const r = await runCommandGate({ run: 'true', timeout: 5000 }, { ...ctx, cwd: join(dir, 'nope') });
    assert.equal(r.outcome, 'error');
    assert.match(r.summary, /could not start \/bin\/sh in .*nope/);
  });
});
