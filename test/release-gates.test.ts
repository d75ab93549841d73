// Gates and preview during verifying, with real processes and a steady load on the live listener:
// a version that fails its smoke suite is never seen by a user, preview reaches the idle slot only
// with the release's token, and a manual release waits for `cutover promote`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from './helpers.ts';
import { cleanup, cli, deploy, served, startUp, steadyLoad, waitPhase } from './lifecycle-helpers.ts';
import { ask, release, releaseSetup, settled } from './release-helpers.ts';

test('a version failing its smoke suite never answers a user and `deploy --wait` exits 1 with the failed expectation; preview needs the right token; a manual release waits for promote', async () => {
  const s = await releaseSetup({
    gates: [
      {
        http: {
          requests: [
            { path: '/version', expect: { status: 200 } },
            { path: '/ready', expect: { status: 200 } },
          ],
          timeout: '10s',
        },
      },
    ],
    approval: 'manual',
  });
  const d = await startUp(s);
  try {
    const v1 = await deploy(d, 'v1');
    await waitPhase(d, v1.id, ['awaiting-approval']);
    assert.equal(cli(s, ['promote', 'web']).code, 0);
    await waitPhase(d, v1.id, ['promoted', 'retired']);

    const load = steadyLoad(s.port, 4);
    try {
      const bad = cli(s, ['deploy', 'web', 'smokefail', '--wait']);
      assert.equal(bad.code, 1, bad.stdout + bad.stderr);
      assert.match(bad.stdout, /gate 1 of 1 \(http: .*\) failed: .*GET \/ready.*503/s);

      const v2 = await deploy(d, 'v2');
      const waiting = await waitPhase(d, v2.id, ['awaiting-approval']);
      const token: string = waiting.preview.token;
      assert.ok(token.length >= 22, 'a preview token of at least 16 random bytes');
      assert.equal(waiting.gates.length, 1);
      assert.equal(waiting.gates[0].outcome, 'passed');
      assert.equal((await ask(s.port, { 'x-cutover-preview': token })).version, 'v2', 'the right token reaches the idle slot');
      assert.equal((await ask(s.port, { cookie: `cutover-preview=${token}` })).version, 'v2', 'so does the cookie');
      assert.equal(
        (await ask(s.port, { 'x-cutover-preview': token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A') })).version,
        'v1',
        'a wrong token reaches live',
      );
      assert.equal((await ask(s.port)).version, 'v1', 'no token reaches live');
      const viewer = (await d.api('POST', '/api/v1/tokens', { role: 'viewer' })).json.token as string;
      const seen = (await (
        await fetch(`http://127.0.0.1:${s.apiPort}/api/v1/services/web`, { headers: { authorization: `Bearer ${viewer}` } })
      ).json()) as any;
      assert.equal(seen.release.preview.header, 'x-cutover-preview', 'a viewer sees how to preview');
      assert.ok(!JSON.stringify(seen).includes(token), 'but never the token');
      const st = cli(s, ['status', 'web']);
      assert.match(st.stdout, new RegExp(`preview  x-cutover-preview: ${token.replace(/[-_]/g, '.')}`));
      assert.match(st.stdout, /gate 1 {2}ok/);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await release(d, v2.id)).phase, 'awaiting-approval', 'a manual release waits');

      const ok = cli(s, ['promote', 'web']);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      await waitPhase(d, v2.id, ['promoted']);
      const { failures, versions } = await load.stop();
      assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failed user requests`);
      assert.equal(versions.get('smokefail') ?? 0, 0, 'no user request was answered by the failing version');
      assert.ok((versions.get('v2') ?? 0) > 0);
      assert.equal((await ask(s.port, { 'x-cutover-preview': token })).version, 'v2', 'an old token is worthless: live answers');
      assert.equal((await release(d, v2.id)).preview, null, 'no token shown once traffic moved');
      assert.ok(!d.output().includes(token), 'the token is never logged');
    } finally {
      // A failed assertion must stop the load too, or its clients would run on until their deadline.
      await load.stop();
    }
  } finally {
    await d.stop();
    cleanup(s);
  }
});

test('a hanging command gate is killed at its timeout, and a manual release not approved in time is aborted by approvalTimeout', async () => {
  const s = await releaseSetup({
    gates: [{ command: { run: 'if [ "$CUTOVER_VERSION" = hang ]; then echo $$ > hang.pid; exec sleep 60; fi; echo fine', timeout: '1s' } }],
    approval: 'manual',
    approvalTimeout: '1s',
    onTimeout: 'abort',
  });
  const d = await startUp(s);
  try {
    const hang = await deploy(d, 'hang');
    const failed = await settled(d, hang.id);
    assert.equal(failed.phase, 'failed');
    assert.match(failed.reason, /gate 1 of 1 \(command: .*\) timed out/);
    assert.equal(failed.gates[0].outcome, 'timeout');
    const pid = Number((await import('node:fs')).readFileSync(`${s.dir}/hang.pid`, 'utf8'));
    await waitFor(
      'the hanging command to be gone',
      () => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      },
      5000,
    );

    const v1 = await deploy(d, 'v1');
    const aborted = await settled(d, v1.id);
    assert.equal(aborted.phase, 'aborted');
    assert.match(aborted.reason, /no approval within 1 s; onTimeout is abort/);
    assert.equal((await served(s.port)).status, 503, 'nothing went live');
  } finally {
    await d.stop();
    cleanup(s);
  }
});

test('a load gate fails a version with 5% errors and passes a healthy one; approvalTimeout with onTimeout promote goes on by itself', async () => {
  const s = await releaseSetup({
    gates: [{ load: { rate: 150, duration: '2s', connections: 4, maxErrorRate: 0.01 } }],
    approval: 'manual',
    approvalTimeout: '500ms',
    onTimeout: 'promote',
  });
  const d = await startUp(s);
  try {
    const err5 = await settled(d, (await deploy(d, 'err5')).id);
    assert.equal(err5.phase, 'failed');
    assert.match(err5.reason, /gate 1 of 1 \(load: .*\) failed/);
    assert.equal(err5.gates[0].outcome, 'failed');

    const v1 = await settled(d, (await deploy(d, 'v1')).id, ['promoted', 'retired', 'failed', 'aborted']);
    assert.ok(['promoted', 'retired'].includes(v1.phase), `${v1.phase}: ${v1.reason}`);
    assert.equal(v1.gates[0].outcome, 'passed');
    assert.ok(v1.events.some((e: any) => e.phase === 'shifting' && /onTimeout is promote/.test(e.reason)));
    assert.equal((await served(s.port)).version, 'v1');
  } finally {
    await d.stop();
    cleanup(s);
  }
});
