// The words of `cutover status`, `deploy --wait` and `history` as an operator reads them, against a
// real daemon: a progressive shift says "step 1 of 2 (20%)" and neither slot reads as idle while it
// takes traffic; times are local with how long ago; a rolled-back release carries no stale analysis
// block; a failed release shows its whole reason and where its logs are.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { CLI, waitFor } from './helpers.ts';
import { cleanup, cli, deploy, type Running, type Setup, startUp, waitPhase, writeSetup } from './lifecycle-helpers.ts';

const LOCAL_TIME = /\d\d:\d\d:\d\d \((now|\d[\dhms.]* ago)\)/;

describe('a service that shifts in two steps', () => {
  let s: Setup;
  let d: Running;
  before(async () => {
    s = await writeSetup({
      // Each step holds until promoted: what is asserted mid-shift stays so however slow the machine.
      shift: { steps: [20, 100], hold: '10m' },
      analysis: { interval: '250ms', window: '1s', inconclusive: 'pass' },
    });
    d = await startUp(s);
  });
  after(async () => {
    await d?.stop();
    if (s) cleanup(s);
  });

  test('status and a piped deploy --wait say "step 1 of 2 (20%)", and both slots say what share they take', async () => {
    await waitPhase(d, (await deploy(d, 'v1')).id, ['promoted', 'retired']);
    const child = spawn(process.execPath, [CLI, 'deploy', 'web', 'v2', '--wait'], {
      env: { ...process.env, CUTOVER_API: `http://127.0.0.1:${s.apiPort}`, CUTOVER_TOKEN: s.token },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (out += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (out += t));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

    await waitFor('deploy --wait to print the first step', () => /shifting +step 1 of 2 \(20%\)/.test(out), 30_000);
    const status = cli(s, ['status', 'web']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /release \S+ {2}version v2 {2}blue -> green {2}shifting {2}step 1 of 2 \(20%\) {2}started /);
    assert.match(status.stdout, new RegExp(`started ${LOCAL_TIME.source}`));
    assert.match(status.stdout, /\* blue {2}v1 {2}\(live, keeps 80% of new clients\)/);
    assert.match(status.stdout, /green v2 {2}\(takes 20% of new clients\)/);
    assert.doesNotMatch(status.stdout, /idle/i);

    const next = cli(s, ['promote', 'web', '--full']);
    assert.equal(next.code, 0, next.stderr);
    assert.equal(await exited, 0, out);
    assert.match(out, /observing/);
    assert.match(out, /version v2 is live/);
  });

  test('a rolled-back release shows its reason and no stale analysis; history shows local times', async () => {
    const rb = cli(s, ['rollback', 'web', '--reason', 'checking the words']);
    assert.equal(rb.code, 0, rb.stderr + rb.stdout);
    const status = cli(s, ['status', 'web']);
    assert.match(status.stdout, /version v2 {2}blue -> green {2}rolled-back/);
    assert.doesNotMatch(
      status.stdout,
      /^ {2}analysis .*(: running|: waiting|\(hold\))/m,
      'a rolled-back release has nothing running or holding',
    );
    assert.doesNotMatch(status.stdout, /standby watch/, 'the watch stopped with the rollback: stale');
    assert.match(status.stdout, /^ {2}analysis observing: inconclusive/m, 'its verdicts stay');
    assert.doesNotMatch(status.stdout, /step \d of/, 'no step once the shift is over');

    const history = cli(s, ['history', 'web']);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /^started +release/m);
    assert.doesNotMatch(history.stdout, /UTC/);
    const rows = history.stdout.split('\n').filter((l) => /rel_/.test(l));
    assert.equal(rows.length, 2, history.stdout);
    for (const row of rows) assert.match(row, new RegExp(`^${LOCAL_TIME.source}`), row);
    assert.match(history.stdout, new RegExp(`audit log \\(newest first\\)\\ntime +who[^\\n]*\\n${LOCAL_TIME.source}`));
  });

  test('a failed release shows its whole reason, the app’s own words, and the command for its logs', async () => {
    const bad = await deploy(d, 'broken');
    await waitPhase(d, bad.id, ['failed'], 60_000);
    const status = cli(s, ['status', 'web']);
    assert.match(status.stdout, /failed/);
    assert.match(status.stdout, /cannot read config\/app\.json/);
    assert.match(status.stdout, new RegExp(`cutover logs web --slot ${bad.slot}`));
    assert.doesNotMatch(status.stdout, /\d{4,} ?ms\b/, 'durations in human units');
  });
});
