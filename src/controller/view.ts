// What the controller shows and offers to the edges (API, metrics, dashboard sampler), as types only:
// the API answers with these, and the CLI imports them without loading any controller code.
import type { AnalysisSummary } from '../analysis/summary.ts';
import type { SlotName } from '../config/types.ts';
import type { GateResult } from '../gates/types.ts';
import type { MigrationResult } from '../migrations/runner.ts';
import type { TargetHealth } from '../router/health.ts';
import type { RouterMetrics } from '../router/router.ts';
import type { JsonObject, Phase, ReleaseRecord, RouteState, StoreEvent } from '../store/types.ts';
import type { ShiftStep } from './shift-step.ts';
import type { DrillResult } from './drill-spec.ts';
import type { TrafficStatus } from './traffic-control.ts';

export interface TargetStatus {
  address: string;
  healthy: boolean;
  lastError: string | null;
}

export interface ServiceStatus {
  service: string;
  listen: string;
  live: SlotName | null;
  weights: { blue: number; green: number };
  generation: number;
  /** `cutover pause`: new requests wait up to timeout ms for `cutover resume`; null when not paused. */
  paused: { timeout: number } | null;
  /** `cutover maintenance on`: users get the maintenance page; null when off. */
  maintenance: { message: string | null } | null;
  slots: Record<SlotName, { version: string | null; targets: TargetStatus[] }>;
  /** What moves the traffic (the embedded router or an external balancer), what it reports, and drift. */
  traffic: TrafficStatus;
  /**
   * What the built-in analysis metrics (error_rate, p50..p99, mean) are measured from: `router`, the
   * external balancer's kind (`haproxy`), or `none` with a note saying why and what to use instead.
   */
  analysisSource: { source: string; note: string | null };
  /** The active release, or else the latest one; filled in by the daemon. */
  release: ReleaseStatus | null;
  /** On an edge listener (hosts, pathPrefix or tls): what it claims, its certificates and ACME's progress. */
  edge?: EdgeStatus;
}

export interface EdgeStatus {
  hosts: readonly string[];
  pathPrefix: string;
  tls: boolean;
  certificates: { hosts: readonly string[]; source: string; subject: string; notAfter: string; loadedAt: string; error: string | null }[];
  acme: { host: string; state: string; notAfter: string | null; error: string | null; failures: number; nextAttempt: string | null }[];
}

/** A router host that serves on an edge listener can say how its edge stands. */
export interface EdgeStatusSource {
  edgeStatus(): EdgeStatus;
}

export interface ReleaseStatus {
  id: string;
  version: string;
  phase: Phase;
  slot: SlotName;
  fromSlot: SlotName | null;
  reason: string | null;
  createdAt: string;
  updatedAt: string;
  data: JsonObject;
  events: StoreEvent[];
  /** How to reach the idle slot while the release is proven; `token` is for deployers only. */
  preview: { header: string; cookie: string; listen: string | null; token?: string } | null;
  /** Every gate result so far, in order. */
  gates: GateResult[];
  /** One summary per analysis run (each shift step, then observing), in order. */
  analysis: AnalysisSummary[];
  /** While a progressive shift moves traffic: which step it is in (`step 1 of 2 (20%)`); null otherwise. */
  step: ShiftStep | null;
  /** Why the release holds now: the store cannot be written (a full or read-only stateDir); null when it does not. */
  waiting: { reason: string; since: string } | null;
  /** For a drill (`cutover drill`): its faults and result; null for an ordinary release. */
  drill: DrillResult | null;
}

/** A service as the edges read it: nothing here changes anything. */
export interface ServiceView {
  readonly name: string;
  routeState(): RouteState;
  targetHealth(address: string): TargetHealth | undefined;
  metrics(): Promise<RouterMetrics>;
  status(): ServiceStatus;
}

/** The operator's escape hatch: all traffic to one slot, recorded like everything else. */
export interface SwitchCommand {
  switchTo(slot: SlotName, actor: string, reason: string, opts?: { force?: boolean }): Promise<RouteState>;
}

/** Pause/resume and maintenance on/off of a service (`cutover pause|resume|maintenance`); the absent key stays. */
export interface HoldCommand {
  setHold(
    change: { paused?: { timeout: number } | null; maintenance?: { message: string | null } | null },
    actor: string,
    reason: string,
  ): Promise<RouteState>;
}

/** What an operator (through the API) asks of a service's releases. */
export interface ReleaseCommands {
  deploy(version: string, actor: string): Promise<ReleaseRecord>;
  /** A rollback drill: a release of the live version whose new slot's answers fail or wait on purpose. */
  drill(req: { errors: number; latency: number }, actor: string): Promise<ReleaseRecord>;
  promote(actor: string, opts?: { full?: boolean }): Promise<ReleaseRecord>;
  /**
   * `byRelease`: the operator's rollback, which with nothing on standby is a release of the earlier
   * version; `to`: that version (default: the one on standby, else the one live before).
   */
  rollback(actor: string, reason?: string, opts?: { to?: string; byRelease?: boolean }): Promise<ReleaseRecord>;
  abort(actor: string, reason?: string): Promise<ReleaseRecord>;
  contract(actor: string): Promise<MigrationResult>;
  /** Newest first. */
  list(limit?: number): Promise<ReleaseRecord[]>;
  get(id: string): Promise<ReleaseRecord>;
  statusOf(release: ReleaseRecord): Promise<ReleaseStatus>;
}
