// A service's gates in order: every result reported as it comes, a stop at the first that does not
// pass, and a result (never a throw) for the controller to keep, whatever happens inside a gate.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { GateConfig } from '../src/config/types.ts';
import { runGates } from '../src/gates/run.ts';
import type { GateContext, GateResult } from '../src/gates/types.ts';
import { createLogger } from '../src/log.ts';
import { startUpstream, type Upstream } from './helpers.ts';

const TOKEN = 'run-preview-token-93d1';

describe('runGates', () => {
  let dir: string;
  let app: Upstream;
  let ctx: GateContext;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cutover-gates-run-'));
    app = await startUpstream('green');
    ctx = {
      service: 'web',
      version: 'v2',
      slot: 'green',
      previewUrl: `http://${app.address}`,
      previewHeader: 'x-cutover-preview',
      previewToken: TOKEN,
      directTargets: [app.address],
      cwd: dir,
    };
  });
  after(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const http = (status: number): GateConfig => ({
    http: { requests: [{ method: 'GET', path: '/', headers: {}, expect: { status } }], timeout: 5000 },
  });
  const command = (run: string): GateConfig => ({ command: { run, timeout: 5000 } });

  test('gates run in order, each result is reported as it comes, and the first failure stops the rest', async () => {
    const marker = join(dir, 'third-gate-ran');
    const seen: [number, string][] = [];
    const results = await runGates([http(200), command('echo e2e failed; exit 1'), command(`touch ${marker}`)], ctx, (r, i) => {
      seen.push([i, r.outcome]);
    });
    assert.deepEqual(
      results.map((r) => [r.kind, r.outcome]),
      [
        ['http', 'passed'],
        ['command', 'failed'],
      ],
    );
    assert.deepEqual(seen, [
      [0, 'passed'],
      [1, 'failed'],
    ]);
    assert.equal(existsSync(marker), false, 'a gate after a failure never runs');
    assert.equal(results[1]?.summary, 'exited with code 1: e2e failed');
  });

  test('when every gate passes, every result comes back, load included', async () => {
    const results = await runGates(
      [http(200), command('true'), { load: { rate: 50, duration: 1000, connections: 2, maxErrorRate: 0.01 } }],
      ctx,
    );
    assert.deepEqual(
      results.map((r) => r.outcome),
      ['passed', 'passed', 'passed'],
    );
    for (const r of results) assert.ok(r.durationMs >= 0 && r.summary.length > 0 && typeof r.details === 'object');
  });

  test('a gate that throws becomes an error result, and nothing after it runs', async () => {
    const results = await runGates([command('true'), http(200)], ctx, undefined, {
      command: async () => {
        throw new Error('spawn EAGAIN');
      },
    });
    assert.equal(results.length, 1);
    assert.equal(results[0]?.outcome, 'error');
    assert.equal(results[0]?.summary, 'the command gate could not run: spawn EAGAIN');
  });

  test('a mirror gate errs unless the controller supplies its runner', async () => {
    const mirror: GateConfig = { mirror: { share: 0.1, duration: 5000, maxErrorRateDelta: 0.01 } };
    const [without] = await runGates([mirror], ctx);
    assert.equal(without?.outcome, 'error');
    assert.equal(without?.name, 'mirror: 10% of live requests for 5 s');
    const result: GateResult = { kind: 'mirror', name: 'mirror', outcome: 'passed', durationMs: 1, summary: 'ok', details: {} };
    const [withRunner] = await runGates([mirror], ctx, undefined, { mirror: async () => result });
    assert.deepEqual(withRunner, result);
  });

  test('an aborted release runs no gate', async () => {
    const results = await runGates([http(200)], { ...ctx, signal: AbortSignal.abort() });
    assert.deepEqual(results, []);
  });

  test('the preview token appears in no log line and no result, even when a command prints it', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', format: 'json', write: (l) => lines.push(l) });
    const results = await runGates([http(200), command('echo "token is $CUTOVER_PREVIEW_TOKEN"; exit 2')], { ...ctx, log });
    assert.equal(results[1]?.summary, 'exited with code 2: token is [preview token]');
    assert.ok(lines.length >= 4);
    for (const text of [...lines, JSON.stringify(results)]) assert.ok(!text.includes(TOKEN), text);
  });
});
