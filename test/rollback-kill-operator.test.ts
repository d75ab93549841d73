// `POST /rollback` with the controller SIGKILLed at every step boundary of the rollback (see
// rollback-kill-helpers.ts): after the restart traffic is on the good version and nothing is stuck.
import { test } from 'node:test';
import { KILL_POINTS, killEveryRollbackStep } from './rollback-kill-helpers.ts';

test(`an operator's rollback survives a controller SIGKILL at each of its step boundaries (${KILL_POINTS.join(', ')})`, async () => {
  await killEveryRollbackStep('operator');
});
