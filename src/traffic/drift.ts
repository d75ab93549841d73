// Drift: where what a balancer reports differs from the route table cutover recorded. A pure function
// over plain data, so status, the API and tests all judge it the same way.
import { SLOTS } from '../config/types.ts';
import type { ObservedTraffic, TrafficState } from './types.ts';

/** The weights a state means: all to the live slot, or the split of a progressive shift. */
export function intendedWeights(state: TrafficState): TrafficState['weights'] {
  if (state.live === null) return { blue: 0, green: 0 };
  const total = state.weights.blue + state.weights.green;
  if (total === 0) return { blue: state.live === 'blue' ? 100 : 0, green: state.live === 'green' ? 100 : 0 };
  return { blue: (100 * state.weights.blue) / total, green: (100 * state.weights.green) / total };
}

/**
 * Every difference, as sentences; empty when the balancer agrees. Weights are compared within one
 * percentage point (balancers round: HAProxy weights are integers 0-256); the targets of a slot that
 * should carry traffic as a set (order means nothing to a balancer), and a slot that should carry
 * none must have no target taking traffic.
 */
export function drift(state: TrafficState, observed: ObservedTraffic): string[] {
  const want = intendedWeights(state);
  const out: string[] = [];
  if (observed.weights !== null) {
    for (const slot of SLOTS) {
      if (Math.abs(observed.weights[slot] - want[slot]) > 1) {
        out.push(`${slot} gets ${round(observed.weights[slot])}% at the balancer, the route table says ${round(want[slot])}%`);
      }
    }
  }
  for (const slot of SLOTS) {
    if (want[slot] === 0) {
      if (observed.weights === null && observed.targets[slot].length > 0) {
        out.push(`the balancer still sends traffic to ${slot} (${observed.targets[slot].join(', ')}), the route table gives it none`);
      }
      continue;
    }
    const expected = new Set(state.slots[slot].targets);
    const seen = new Set(observed.targets[slot]);
    const missing = [...expected].filter((a) => !seen.has(a));
    const extra = [...seen].filter((a) => !expected.has(a));
    if (missing.length > 0) out.push(`the balancer does not send ${slot}'s traffic to ${missing.join(', ')}`);
    if (extra.length > 0) out.push(`the balancer sends ${slot}'s traffic to ${extra.join(', ')}, which the route table does not name`);
  }
  return out;
}

const round = (n: number): number => Math.round(n * 10) / 10;
