// A release that holds on an inconclusive analysis (an `analysis` section on a quiet service) waits
// for a person, and says so: `deploy --wait` piped to a log prints why and what to run at once, then
// a line at least every 10 s; `status` shows the same; `cutover promote` ends the wait.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { CLI, waitFor } from './helpers.ts';
import { cleanup, cli, deploy, type Running, type Setup, startUp, waitPhase, writeSetup } from './lifecycle-helpers.ts';

describe('a quiet service whose config has an analysis section', () => {
  let s: Setup;
  let d: Running;
  before(async () => {
    s = await writeSetup({ analysis: { interval: '250ms', window: '1s', minSamples: 10, inconclusive: 'hold' } });
    d = await startUp(s);
  });
  after(async () => {
    await d?.stop();
    if (s) cleanup(s);
  });

  test('its first release is promoted once its gates pass, and a later one holds loudly until promoted', async () => {
    const first = await waitPhase(d, (await deploy(d, 'v1')).id, ['promoted', 'retired']);
    assert.deepEqual(first.analysis, [], 'nothing to roll back to: no analysis');

    const child = spawn(process.execPath, [CLI, 'deploy', 'web', 'v2', '--wait'], {
      env: { ...process.env, CUTOVER_API: `http://127.0.0.1:${s.apiPort}`, CUTOVER_TOKEN: s.token },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: { at: number; text: string }[] = [];
    let buf = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => {
      buf += t;
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      for (const text of parts) lines.push({ at: Date.now(), text });
    });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (t: string) => (err += t));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

    const holding = /HOLDING \(observing\): .*fewer than minSamples 10.*run `cutover promote web` to go on, or `cutover rollback web`/;
    const held = await waitFor('deploy --wait to say the release holds', () => lines.find((l) => holding.test(l.text)), 30_000);
    const status = cli(s, ['status', 'web']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, holding);
    assert.match(status.stdout, /green v2 {2}\(takes|\* green v2/, 'the new slot is not shown as idle');

    // Piped, it goes on saying so: the next line comes within the heartbeat.
    const next = await waitFor('the next line of a piped --wait', () => lines.find((l) => l.at > held.at), 15_000);
    assert.ok(next.at - held.at <= 11_000, `a line at least every 10 s (gap ${next.at - held.at} ms)`);
    assert.match(next.text, holding);

    assert.equal(cli(s, ['promote', 'web']).code, 0);
    assert.equal(await exited, 0, lines.map((l) => l.text).join('\n') + err);
    assert.ok(lines.some((l) => /version v2 is live/.test(l.text)));
  });
});
