// `cutover abort <service>`: ends a release before traffic moves; its slot is stopped, live untouched.
import { releaseAction } from './action.ts';

export const { run, help } = releaseAction(
  'abort',
  'End the running release of <service> before traffic moves: its slot is stopped and the live slot is not touched.',
  (r) => `release ${r.id} of version ${r.version} aborted; ${r.slot} is stopped and the live slot was not touched`,
);
