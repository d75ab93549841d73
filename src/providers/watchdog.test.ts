import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCommand, parseCommand } from './watchdog.ts';

test('watchdog commands survive the trip through the pipe, and nonsense or pid 1 is ignored', () => {
  assert.deepEqual(parseCommand(formatCommand({ op: 'watch', pgid: 4242, grace: 1500 })), { op: 'watch', pgid: 4242, grace: 1500 });
  assert.deepEqual(parseCommand(formatCommand({ op: 'unwatch', pgid: 4242 })), { op: 'unwatch', pgid: 4242 });
  for (const line of ['', 'watch', 'watch 1 10', 'watch 0 10', 'watch -5 10', 'watch 12 x', 'kill 12', 'watch 1.5 10']) {
    assert.equal(parseCommand(line), null, line);
  }
});
