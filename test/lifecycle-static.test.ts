// A release of a static service: cutover runs nothing, it verifies the idle slot's addresses and
// switches; retiring leaves the operator's addresses in place.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDaemon, startUpstream, waitFor } from './helpers.ts';

test('a static service goes through a release to green, and after retire its blue addresses are still known', async () => {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  const d = await startDaemon([blue.address], [green.address], {
    service: { standby: '1s', analysis: { interval: '500ms', window: '500ms', inconclusive: 'pass' } },
  });
  try {
    const r = await d.api('POST', '/api/v1/services/web/releases', { version: 'v2' });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    assert.equal(r.json.slot, 'green');
    await waitFor(
      'retired',
      async () => (await d.api('GET', `/api/v1/services/web/releases/${r.json.id}`)).json.phase === 'retired',
      15_000,
    );
    assert.equal(await (await fetch(`http://127.0.0.1:${d.port}/`)).text(), 'green');
    const st = (await d.api('GET', '/api/v1/services/web')).json;
    assert.deepEqual(
      st.slots.blue.targets.map((t: any) => t.address),
      [blue.address],
    );
    assert.equal((await d.switchTo('blue')).status, 200, 'the escape hatch still reaches blue');
    assert.equal(await (await fetch(`http://127.0.0.1:${d.port}/`)).text(), 'blue');
  } finally {
    await d.stop();
    await blue.close();
    await green.close();
  }
});
