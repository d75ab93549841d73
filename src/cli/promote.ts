// `cutover promote <service> [--full] [--json]`: approves a release that waits for manual approval;
// during a progressive shift ends the current step now (--full: all traffic to the new version now);
// while observing (or holding on an inconclusive analysis), promotes now.
import { releaseAction } from './action.ts';

export const { run, help } = releaseAction(
  'promote',
  'Move the release of <service> on: approve it when it awaits approval, end the current step of a shift, or promote it\n' +
    'now while it is observed or holds on an inconclusive analysis.',
  (r, values) =>
    `release ${r.id} of version ${r.version} promoted; it is ${r.phase}${values.full ? '; all traffic moves to the new version now' : ''}`,
  { full: { type: 'boolean', help: 'during a shift: all traffic to the new version now, instead of the next step' } },
);
