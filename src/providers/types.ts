// The one interface every provider implements: where a slot's version runs and at which targets.
//
// After a daemon restart the controller reads the live slot (and a standby slot) from the store and
// calls `provision(slot, version)` again: a process provider adopts the replicas still running under
// the supervisor (or starts fresh ones on new ports), a static provider returns the same addresses.
// The router serves a slot only once its targets are healthy, so a re-provisioned slot is never
// served before it is ready.
import type { SlotName } from '../config/types.ts';

/** What a slot runs: a version plus its targets (`host:port`). */
export interface SlotDeployment {
  slot: SlotName;
  version: string;
  targets: string[];
}

export interface ProvisionOptions {
  /** Aborting stops whatever this call started and rejects it. */
  signal?: AbortSignal;
  /**
   * How long (ms) every replica must stay up before provisioning succeeds. A replica that exits
   * inside this window fails the release at once, with its last output lines in the reason.
   * Health is not awaited here: the router's health checker does that.
   */
  stableFor?: number;
  /**
   * How many replicas to start, when the slot is not already running its version; default the
   * config's `replicas`. A new slot under gates starts with `previewReplicas` (scaleUp() adds the rest).
   */
  replicas?: number;
}

export interface StopOptions {
  /** SIGTERM, then SIGKILL after this many ms; default the provider's `stopGrace`. */
  grace?: number;
}

export type ReplicaState = 'starting' | 'running' | 'backoff' | 'stopping' | 'stopped';

export interface ReplicaExit {
  code: number | null;
  signal: string | null;
  /** ms the replica was up before it exited. */
  uptime: number;
  at: number;
}

/** One replica of a slot, as the API and dashboard show it. */
export interface ReplicaStatus {
  index: number;
  target: string;
  pid: number | null;
  state: ReplicaState;
  /** Times this replica was restarted after dying on its own. */
  restarts: number;
  lastExit: ReplicaExit | null;
}

interface ReplicaEventBase {
  service: string;
  slot: SlotName;
  version: string;
  replica: number;
  target: string;
  /** null when the program could not be started at all. */
  pid: number | null;
  /** Restarts of this replica so far, and of every replica of the slot. */
  restarts: number;
  slotRestarts: number;
}

export type ReplicaEvent =
  | (ReplicaEventBase & { type: 'replica-start' })
  | (ReplicaEventBase &
      ReplicaExit & {
        type: 'replica-exit';
        /** ms until it is started again; null when it is not (stopped, or provisioning failed). */
        restartIn: number | null;
      });

export type ReplicaListener = (event: ReplicaEvent) => void;

/**
 * What a provider can do, so the controller asks instead of branching on its kind. A new provider
 * (kubernetes) states its own answers here and the controller needs no change.
 */
export interface ProviderCapabilities {
  /**
   * A restarted controller provisions the slots it needs again (the process provider adopts the
   * replicas it finds running, or starts them anew), then calls adoptionDone() when it has one.
   */
  readonly reprovisionAfterRestart: boolean;
  /**
   * The slot's addresses are the operator's, named in the config: stopping a slot leaves them in the
   * route state (a static slot always has its targets); otherwise a stopped slot has none.
   */
  readonly fixedTargets: boolean;
}

/**
 * What a slot runs besides its version, for the parity report (`cutover parity`): as it was
 * provisioned, and what the provider sees running now. Environment variables by name only: their
 * values (secrets among them) never leave the provider; a change of a value shows in configHash.
 */
export interface SlotSpec {
  /** The command with `{version}` left in (so two versions compare equal); null: not cutover's to know. */
  command: string[] | null;
  /** Sorted names of the variables the slot's replicas are given; null: not cutover's to know. */
  envNames: string[] | null;
  replicas: number;
  /** Set while the slot runs fewer for its preview (previewReplicas): how many; scaleUp() brings it to `replicas`. */
  previewReplicas?: number;
  /** A short hash of everything the slot was provisioned with (values included); null: nothing to hash. */
  configHash: string | null;
  /** What the provider sees now: how many replicas run, in words, and the variable names the running process has. */
  view: { running: number; detail: string; envNames: string[] | null };
}

export interface Provider {
  readonly kind: 'process' | 'static' | 'kubernetes';
  readonly service: string;
  readonly capabilities: ProviderCapabilities;
  /**
   * The slot's last `lines` lines of output, for a failure's reason; empty when the provider keeps
   * none (a static slot's output is the operator's). Never rejects.
   */
  lastOutput(slot: SlotName, lines: number): Promise<string[]>;
  /**
   * The addresses the config names for `slot`, already running before any release (a provider with
   * `fixedTargets`); empty for a provider that starts the slot's targets itself.
   */
  configuredTargets(slot: SlotName): string[];
  /**
   * Make `slot` run `version` and return its targets. Idempotent: the same version already running
   * is returned as it is; another version in the slot is stopped first. Rejects with a CutoverError
   * when a replica cannot start or exits within `stableFor`, having stopped everything it started.
   */
  provision(slot: SlotName, version: string, opts?: ProvisionOptions): Promise<SlotDeployment>;
  /**
   * Brings a slot provisioned with fewer replicas up to the config's `replicas`, every new one stable
   * (as provision() judges it), and returns all its targets; a slot already at `replicas` is returned
   * as it is. Rejects with a CutoverError when a new replica cannot start, having stopped those it
   * started (the ones already running stay). Absent: the provider always runs `replicas`.
   */
  scaleUp?(slot: SlotName, opts?: ProvisionOptions): Promise<SlotDeployment>;
  /** Stop the slot's replicas; a slot that runs nothing is left as it is. */
  stop(slot: SlotName, opts?: StopOptions): Promise<void>;
  deployment(slot: SlotName): SlotDeployment | null;
  replicas(slot: SlotName): ReplicaStatus[];
  /** What `slot` runs besides its version (see SlotSpec); null when it runs nothing. Absent: the provider cannot say. */
  slotSpec?(slot: SlotName): Promise<SlotSpec | null>;
  /** Replica starts, exits and restarts; returns a function that unsubscribes. */
  onReplicaEvent(listener: ReplicaListener): () => void;
  /**
   * After a restart, once the slots the controller needs are provisioned again: whatever an earlier
   * controller left running that nothing adopted is stopped, but for the slots in `later`: a release
   * provisions those next (and may adopt what runs there), or stops them.
   */
  adoptionDone?(later?: readonly SlotName[]): Promise<void>;
  /** Stop every slot (unless its replicas outlive the controller) and release what the provider holds. */
  close(): Promise<void>;
}
