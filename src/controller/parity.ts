// The environment parity report (`cutover parity <service>`, status, and before every switch): what
// differs between the two slots besides the version: the command, the environment variable NAMES
// (never values), replicas, a hash of the provider config, and what the provider sees running. With
// `parity: { strict: true }` a switch to a slot that differs is refused (CUTOVER_E_PARITY_DRIFT).
import type { ServiceConfig, SlotName } from '../config/types.ts';
import { CutoverError } from '../errors.ts';
import type { Provider, SlotSpec } from '../providers/types.ts';
import type { RouteState, Store } from '../store/types.ts';

export type ParityField = 'command' | 'env' | 'replicas' | 'config' | 'provider';

export interface ParityDifference {
  field: ParityField;
  /** One line for people: what differs, slot by slot. */
  text: string;
}

export interface ParityReport {
  service: string;
  checkedAt: string;
  /** Whether both slots run something to compare. */
  compared: boolean;
  /** Per slot: its version and what it runs besides (null when it runs nothing, or the provider cannot say). */
  slots: Record<SlotName, { version: string | null; spec: SlotSpec | null }>;
  /** Empty when the slots differ only in their version. */
  differences: ParityDifference[];
  /** Why nothing was compared, when nothing was. */
  note: string | null;
  strict: boolean;
}

const list = (v: readonly string[]): string => (v.length === 0 ? '(none)' : v.join(', '));
const same = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** What differs between two slots' specs; a field one provider cannot know (null) is not compared. */
export function compareSpecs(blue: SlotSpec, green: SlotSpec): ParityDifference[] {
  const out: ParityDifference[] = [];
  if (blue.command !== null && green.command !== null && !same(blue.command, green.command))
    out.push({ field: 'command', text: `command: blue runs ${JSON.stringify(blue.command)}, green ${JSON.stringify(green.command)}` });
  const names = (what: string, a: string[] | null, b: string[] | null) => {
    if (a === null || b === null) return;
    const onlyBlue = a.filter((n) => !b.includes(n));
    const onlyGreen = b.filter((n) => !a.includes(n));
    if (onlyBlue.length + onlyGreen.length > 0)
      out.push({ field: 'env', text: `${what}: only blue has ${list(onlyBlue)}; only green has ${list(onlyGreen)}` });
  };
  names('environment variables configured', blue.envNames, green.envNames);
  if (blue.replicas !== green.replicas) out.push({ field: 'replicas', text: `replicas: blue ${blue.replicas}, green ${green.replicas}` });
  if (blue.configHash !== null && green.configHash !== null && blue.configHash !== green.configHash)
    out.push({
      field: 'config',
      text: `config hash: blue ${blue.configHash}, green ${green.configHash} (the provider config changed between the two: a command, cwd, a variable's value, replicas or stopGrace)`,
    });
  // The provider's view: what runs now, against what each slot was provisioned with.
  for (const [slot, s] of [
    ['blue', blue],
    ['green', green],
  ] as const) {
    // A slot previewed on fewer replicas is scaled up before the switch: its preview count is no drift.
    const expected = s.previewReplicas ?? s.replicas;
    if (s.view.running !== expected) out.push({ field: 'provider', text: `${slot}: the provider sees ${s.view.detail}, not ${expected}` });
  }
  names('environment variables of the running processes', blue.view.envNames, green.view.envNames);
  return out;
}

/** The parity of the service's two slots now, from the provider (a provider that cannot say is reported as such). */
export async function parityReport(provider: Provider, cfg: ServiceConfig, state: RouteState): Promise<ParityReport> {
  // A slot runs nothing with neither a version nor targets (a static slot has its addresses from the start).
  const runsNothing = (slot: SlotName): boolean => state.slots[slot].version === null && state.slots[slot].targets.length === 0;
  const spec = async (slot: SlotName): Promise<SlotSpec | null> =>
    runsNothing(slot) || provider.slotSpec === undefined ? null : provider.slotSpec(slot);
  const [blue, green] = await Promise.all([spec('blue'), spec('green')]);
  const empty = (['blue', 'green'] as const).filter(runsNothing);
  const note =
    provider.slotSpec === undefined
      ? `the ${provider.kind} provider does not report what its slots run yet: nothing compared`
      : empty.length > 0
        ? `${empty.join(' and ')} ${empty.length > 1 ? 'run' : 'runs'} nothing: nothing to compare`
        : blue === null || green === null
          ? `${blue === null ? 'blue' : 'green'} is not running as provisioned (being started?): nothing compared`
          : null;
  return {
    service: cfg.name,
    checkedAt: new Date().toISOString(),
    compared: blue !== null && green !== null,
    slots: {
      blue: { version: state.slots.blue.version, spec: blue },
      green: { version: state.slots.green.version, spec: green },
    },
    differences: blue !== null && green !== null ? compareSpecs(blue, green) : [],
    note,
    // Read defensively: a config built in code (tests' fakes) may not name it.
    strict: cfg.parity?.strict === true,
  };
}

/** One line: `blue and green differ only in their version`, or the differences. */
export function paritySummary(r: ParityReport): string {
  if (!r.compared) return r.note ?? 'nothing compared';
  if (r.differences.length === 0) return 'blue and green differ only in their version';
  return `blue and green differ besides their version: ${r.differences.map((d) => d.text).join('; ')}`;
}

/** In strict mode, the error that refuses a switch to `to` on this report; null when it may go on. */
export function parityRefusal(r: ParityReport, to: SlotName): CutoverError | null {
  if (!r.strict || r.differences.length === 0) return null;
  return new CutoverError(
    'CUTOVER_E_PARITY_DRIFT',
    `${r.service}: not switching to ${to}: ${paritySummary(r)}. Make the slots alike (deploy again once the config is what you mean), or set parity: { strict: false } to switch anyway; \`cutover parity ${r.service}\` shows the report`,
    409,
  );
}

/**
 * Before a switch to `to`: computes the report and records it as an event of the service (so history
 * shows what the slots were), then, when `enforce` and the config is strict, refuses a drift.
 * A rollback does not enforce: going back to the version that ran is never refused.
 */
export async function parityBeforeSwitch(
  opts: { provider: Provider; cfg: ServiceConfig; state: RouteState; store: Store; actor: string; releaseId: string | null },
  to: SlotName,
  enforce: boolean,
): Promise<ParityReport> {
  const r = await parityReport(opts.provider, opts.cfg, opts.state);
  const refusal = enforce ? parityRefusal(r, to) : null;
  await opts.store.appendEvent({
    service: opts.cfg.name,
    ...(opts.releaseId !== null ? { releaseId: opts.releaseId } : {}),
    type: 'provider',
    actor: opts.actor,
    reason: `parity, switching to ${to}: ${paritySummary(r)}${refusal ? ' (parity.strict: the switch is refused)' : ''}`,
    data: {
      kind: 'parity',
      to,
      compared: r.compared,
      strict: r.strict,
      refused: refusal !== null,
      differences: r.differences.map((d) => ({ ...d })),
    },
  });
  if (refusal) throw refusal;
  return r;
}
