// progressDeadline with onProgressDeadline: abort, with real processes: a release stuck waiting for
// a version that never becomes healthy is flagged and aborted, and users stay on the live version.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanup, deploy, served, startUp, waitPhase, writeSetup } from './lifecycle-helpers.ts';

test('a release that makes no progress for progressDeadline is flagged and, with onProgressDeadline: abort, aborted with the live slot untouched', async () => {
  const s = await writeSetup({ progressDeadline: '2s', onProgressDeadline: 'abort' });
  const d = await startUp(s);
  try {
    const v1 = await deploy(d, 'v1');
    await waitPhase(d, v1.id, ['promoted', 'retired']);
    const stuck = await deploy(d, 'v3'); // never passes its health check
    const end = await waitPhase(d, stuck.id, ['aborted', 'failed'], 30_000);
    assert.equal(end.phase, 'aborted', end.reason);
    assert.match(end.reason, /^no progress for 2 s in verifying \(progressDeadline\)/);
    const flag = end.events.find((e: any) => e.data?.kind === 'progress-deadline');
    assert.equal(flag?.data.action, 'aborting it');
    assert.equal((await served(s.port)).version, 'v1', 'users never left v1');
  } finally {
    await d.stop();
    cleanup(s);
  }
});
