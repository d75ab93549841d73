// Runs a service's gates in order against the idle slot, stopping at the first that does not pass.
// Each gate bounds itself with its own timeout; a gate that throws (a bug, not a bad version) becomes
// an `error` result, so the controller always gets a result to keep.
import type { GateConfig } from '../config/types.ts';
import { redactSecrets } from '../secrets.ts';
import { formatMs, redact } from './common.ts';
import { runCommandGate } from './command.ts';
import { runHttpGate } from './http.ts';
import { runLoadGate } from './load.ts';
import type { CommandGate, GateContext, GateKind, GateResult, GateRunner, HttpGate, LoadGate, MirrorGate } from './types.ts';

export interface GateRunners {
  http: GateRunner<HttpGate>;
  command: GateRunner<CommandGate>;
  load: GateRunner<LoadGate>;
  /** Mirroring needs the router to copy live requests; the controller supplies this runner. */
  mirror: GateRunner<MirrorGate>;
}

export const defaultRunners: GateRunners = {
  http: runHttpGate,
  command: runCommandGate,
  load: runLoadGate,
  mirror: async (gate) => ({
    kind: 'mirror',
    name: mirrorName(gate),
    outcome: 'error',
    durationMs: 0,
    summary: "the mirror gate is not available in this version of cutover; remove it from the service's gates",
    details: {},
  }),
};

/**
 * Runs `gates` in order; returns the results of those that ran (the last one is the first that did
 * not pass, if any). `onResult` sees each result as soon as it exists, to record it with the release.
 */
export async function runGates(
  gates: GateConfig[],
  ctx: GateContext,
  onResult?: (result: GateResult, index: number) => void | Promise<void>,
  runners: Partial<GateRunners> = {},
): Promise<GateResult[]> {
  const use: GateRunners = { ...defaultRunners, ...runners };
  const results: GateResult[] = [];
  for (const [index, gate] of gates.entries()) {
    if (ctx.signal?.aborted) break;
    const kind = kindOf(gate);
    ctx.log?.info('gate started', { service: ctx.service, version: ctx.version, slot: ctx.slot, gate: index + 1, kind });
    // Kept in the release's events, which viewers read: no preview token, no daemon secret in it.
    const result = redactSecrets(redact(await runOne(gate, ctx, use), ctx.previewToken));
    results.push(result);
    ctx.log?.info('gate finished', {
      service: ctx.service,
      version: ctx.version,
      gate: index + 1,
      kind,
      outcome: result.outcome,
      ms: result.durationMs,
      summary: result.summary,
    });
    await onResult?.(result, index);
    if (result.outcome !== 'passed') break;
  }
  return results;
}

export function kindOf(gate: GateConfig): GateKind {
  if ('http' in gate) return 'http';
  if ('command' in gate) return 'command';
  if ('load' in gate) return 'load';
  if ('mirror' in gate) return 'mirror';
  const never: never = gate;
  throw new Error(`unknown gate ${JSON.stringify(never)}`);
}

async function runOne(gate: GateConfig, ctx: GateContext, use: GateRunners): Promise<GateResult> {
  const started = performance.now();
  const kind = kindOf(gate);
  try {
    if ('http' in gate) return await use.http(gate.http, ctx);
    if ('command' in gate) return await use.command(gate.command, ctx);
    if ('load' in gate) return await use.load(gate.load, ctx);
    return await use.mirror(gate.mirror, ctx);
  } catch (err) {
    return {
      kind,
      name: kind,
      outcome: 'error',
      durationMs: Math.round(performance.now() - started),
      summary: `the ${kind} gate could not run: ${(err as Error).message}`,
      details: { error: (err as Error).message },
    };
  }
}

function mirrorName(gate: MirrorGate): string {
  return `mirror: ${Math.round(gate.share * 100)}% of live requests for ${formatMs(gate.duration)}`;
}
