// What every gate gets (the release's context) and gives back (one result the release keeps, and
// status, history and the API show). Gates never throw for a bad version: they return a result.
import type { GateConfig, SlotName } from '../config/types.ts';
import type { Logger } from '../log.ts';

export type GateKind = 'http' | 'command' | 'load' | 'mirror';

/** The config of one gate of each kind, as the config schema produces it. */
export type HttpGate = Extract<GateConfig, { http: unknown }>['http'];
export type CommandGate = Extract<GateConfig, { command: unknown }>['command'];
export type LoadGate = Extract<GateConfig, { load: unknown }>['load'];
export type MirrorGate = Extract<GateConfig, { mirror: unknown }>['mirror'];

export interface GateContext {
  service: string;
  /** The version being released, now running in the idle slot. */
  version: string;
  /** The idle slot: the one the gates prove. */
  slot: SlotName;
  /** Base URL of the router's listener, like http://127.0.0.1:8080 (no trailing path). */
  previewUrl: string;
  /** Name of the header that carries the preview token, like x-cutover-preview. */
  previewHeader: string;
  /** The release's secret preview token; never written into a result or a log line. */
  previewToken: string;
  /** The idle slot's targets (`host:port`), for gates that bypass the router (load). */
  directTargets: string[];
  /** Working folder of command gates: the config file's folder. */
  cwd: string;
  /** Aborting (the release was aborted) stops the running gate and kills what it started. */
  signal?: AbortSignal;
  log?: Logger;
}

export type GateOutcome = 'passed' | 'failed' | 'error' | 'timeout';

export interface GateResult {
  kind: GateKind;
  /** Names the gate for a user: `http: GET /, GET /api`, `command: npm run e2e`, `load: 200 req/s for 10s`. */
  name: string;
  /**
   * passed; failed (the version did not meet an expectation); error (the gate could not judge:
   * too few requests, could not start, aborted); timeout (the gate's own timeout ran out).
   */
  outcome: GateOutcome;
  durationMs: number;
  /** One line a user reads in status and history. */
  summary: string;
  /** Plain JSON: failed expectations, output excerpt, load numbers. Kind-specific; see each gate. */
  details: Record<string, unknown>;
}

export type GateRunner<G> = (gate: G, ctx: GateContext) => Promise<GateResult>;
