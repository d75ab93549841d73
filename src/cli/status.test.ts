import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatStatus } from './status.ts';

test('status lists every fleet router with the generation it serves and says which lag', () => {
  const text = formatStatus({
    service: 'web',
    listen: '0.0.0.0:8080',
    live: 'green',
    weights: { blue: 0, green: 100 },
    generation: 7,
    slots: {
      blue: { version: 'v1', targets: [] },
      green: { version: 'v2', targets: [{ address: '10.0.0.5:3000', healthy: true, lastError: null }] },
    },
    release: null,
    fleet: {
      controller: 'c1',
      leader: { id: 'c1', api: 'http://127.0.0.1:9900' },
      routers: [
        { id: 'edge-1', generation: 7, listen: '0.0.0.0:8080', since: '', updatedAt: '' },
        { id: 'edge-2', generation: 6, listen: '0.0.0.0:8080', since: '', updatedAt: '' },
      ],
    },
  } as unknown as Parameters<typeof formatStatus>[0]);
  assert.match(text, /fleet: controller c1, leader c1/);
  assert.match(text, /router edge-1 {2}0\.0\.0\.0:8080 {2}serving generation 7$/m);
  assert.match(text, /router edge-2 .* serving generation 6 {2}\(behind: 1 generation\(s\)\)/);
});

test('status says on its second line that a service is in maintenance, and a pause beneath it, with what ends each', () => {
  const text = formatStatus({
    service: 'web',
    listen: '127.0.0.1:8080',
    live: 'blue',
    weights: { blue: 100, green: 0 },
    generation: 4,
    paused: { timeout: 90_000 },
    maintenance: { message: null },
    slots: { blue: { version: 'v1', targets: [] }, green: { version: null, targets: [] } },
    release: null,
  } as unknown as Parameters<typeof formatStatus>[0]);
  const lines = text.split('\n');
  assert.equal(lines[1], '  MAINTENANCE: users get the maintenance page (503); `cutover maintenance web off` ends it');
  assert.equal(
    lines[2],
    '  PAUSED: new requests wait up to 1m30s once maintenance is off, then get 503; `cutover resume web` lets them through',
  );
});
