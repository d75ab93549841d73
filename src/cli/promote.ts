// `cutover promote <service>`: approves a release that waits for manual approval.
import { releaseAction } from './action.ts';

export const run = releaseAction('promote', (r) => `release ${r.id} of version ${r.version} approved; it moves on to ${r.phase}`);
