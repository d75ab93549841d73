// `hooks:` of one service: commands and webhooks run at the points of a release (CodeDeploy-style).
// A hook before traffic moves (beforeProvision, afterProvision, beforeSwitch) that fails fails the
// release; one after (afterSwitch, afterPromote, beforeRetire, onRollback, onFailure) is recorded
// and notified (webhook event hook-failed), and the release goes on.
import { z } from 'zod';
import { command, duration, headerMap } from './fields.ts';
import { HOOK_POINTS, type HookConfig, type HooksConfig } from './types.ts';

export const HOOK_DEFAULTS = { commandTimeout: '5m', webhookTimeout: '10s' } as const;

const commandHook = z.strictObject({
  run: command,
  timeout: duration(1).prefault(HOOK_DEFAULTS.commandTimeout),
});
const webhookHook = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL, like https://deploys.example.com/hook' }),
  headers: headerMap.default({}),
  timeout: duration(1).prefault(HOOK_DEFAULTS.webhookTimeout),
});

const hook = z
  .union([command.transform((run) => ({ run })), z.record(z.string(), z.unknown())], {
    error: 'expected a hook: a command string, { run: COMMAND, timeout }, or { url: URL, headers, timeout }',
  })
  .pipe(z.union([commandHook, webhookHook], { error: 'a hook has either run (a command) or url (a webhook), like { run: ./notify.sh }' }))
  .transform((h): HookConfig => ('run' in h ? { kind: 'command', run: h.run, timeout: h.timeout } : { kind: 'webhook', ...h }));

const hookList = z.union([hook.transform((h) => [h]), z.array(hook)]).optional();

/** When each point runs, for the JSON Schema; a hook or a list of hooks, run in order (default: none). */
const WHEN: Record<(typeof HOOK_POINTS)[number], string> = {
  beforeProvision: 'Before the new version starts in the idle slot; a failure fails the release.',
  afterProvision: 'After the new version has started, before its gates; a failure fails the release.',
  beforeSwitch: 'After the gates pass, just before traffic moves; a failure fails the release.',
  afterSwitch: 'Once traffic has moved to the new slot; a failure is recorded and notified.',
  afterPromote: 'Once the release is promoted; a failure is recorded and notified.',
  beforeRetire: 'Before the standby slot is drained and stopped; a failure is recorded and notified.',
  onRollback: 'After traffic went back to the old slot; a failure is recorded and notified.',
  onFailure: 'After a release failed or was aborted; a failure is recorded and notified.',
};

export const hooksSchema = z
  .strictObject(
    Object.fromEntries(
      HOOK_POINTS.map((p) => [p, hookList.describe(`${WHEN[p]} A hook or a list, run in order (default: none).`)]),
    ) as Record<(typeof HOOK_POINTS)[number], typeof hookList>,
  )
  .prefault({})
  .transform((h): HooksConfig => Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined && v.length > 0)))
  .meta({
    description:
      'Commands and webhooks at the points of a release. Before traffic moves (beforeProvision, afterProvision, beforeSwitch) a failing hook fails the release; after, it is recorded and notified.',
  });
