// The CLI's exit codes, kept apart so a script can tell "the release failed" from "I typed it wrong"
// from "the API said no" from "there is no daemon".
export const EXIT = {
  /** done: the command did what it said; a release was promoted or retired */
  done: 0,
  /** the release ended failed, aborted or rolled back (or an unexpected error) */
  releaseEnded: 1,
  /** bad usage (flags, arguments) or a bad config file */
  usage: 2,
  /** the API refused: auth, not found, conflict, bad request */
  refused: 3,
  /** the API is unreachable */
  unreachable: 4,
  /** interrupted with Ctrl-C (128 + SIGINT) */
  interrupted: 130,
} as const;
