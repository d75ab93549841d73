// `cutover rollback <service>`: while the old slot is on standby, all traffic goes back to it at once.
// After the standby slot was retired the API refuses, naming the slow path (deploying the old version).
import { releaseAction } from './action.ts';

export const { run, help } = releaseAction(
  'rollback',
  'Put all traffic of <service> back on the slot on standby at once (one route-table swap).',
  (r) => `release ${r.id} of version ${r.version} rolled back; ${r.fromSlot ?? 'the old slot'} is live again`,
);
