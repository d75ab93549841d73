// What a controller and its supervisor say to each other over their unix socket: one JSON object a
// line. A request carries an `id` (so no request has a field of that name) and gets one answer with
// the same id; news the supervisor sends
// unasked (a replica started or exited) carries `push` instead.
import type { Challenge } from '../edge/challenge-sink.ts';
import type { EdgeConfig } from '../edge/host.ts';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CutoverError } from '../errors.ts';
import type { RouterGroupStatus, SupervisorStatus } from '../api/types.ts';
import type { RouterMetrics, RouterOptions } from '../router/router.ts';
import type { RouteSpec } from '../router/table.ts';
import type { ReplicaSpec, RunningReplica } from '../providers/replica-runner.ts';
import type { LogStream } from '../providers/slot-log.ts';
import type { SupervisorNews } from './supervisor-replicas.ts';

export const SOCKET_FILE = 'supervisor.sock';
export const LOG_FILE = 'supervisor.log';

/**
 * The folder of a stateDir's supervisor socket: in the runtime folder (XDG_RUNTIME_DIR, else the temp
 * folder), named by the stateDir's path, not inside the stateDir. A full or read-only stateDir must not
 * keep the data plane from starting, and a unix socket's path has a limit (108 bytes) a deep stateDir
 * would pass. Owned by us and closed to others (0700), since whoever connects drives the routers.
 */
export function runtimeDir(stateDir: string): string {
  const id = createHash('sha256').update(resolve(stateDir)).digest('hex').slice(0, 16);
  const dir = join(process.env.XDG_RUNTIME_DIR || tmpdir(), `cutover-${id}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  const uid = process.getuid?.() ?? st.uid;
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new CutoverError(
      'CUTOVER_E_INTERNAL',
      `${dir} (the supervisor's socket folder for ${resolve(stateDir)}) is not a folder of this user closed to others; remove it and start again`,
      500,
    );
  }
  return dir;
}

/** Where a stateDir's supervisor answers. */
export function socketPath(stateDir: string): string {
  return join(runtimeDir(stateDir), SOCKET_FILE);
}

export type { RouterGroupStatus, RouterProcessStatus, SupervisorStatus } from '../api/types.ts';

export type Request =
  /** `pid`: the controller's, named to a second one that is refused while it is attached. */
  | { op: 'attach'; grace: number; pid?: number }
  | { op: 'status' }
  /** Runs `workers` router processes for the service, reusing those that run with the same options. */
  /** `edge`: the routers serve an edge listener (TLS with certificate files, hosts, path prefix; edge/worker.ts). */
  | { op: 'routers'; service: string; opts: RouterOptions; workers: number; edge?: EdgeConfig }
  | { op: 'apply'; service: string; spec: RouteSpec; timeoutMs: number }
  | { op: 'health'; service: string; address: string; healthy: boolean }
  | { op: 'metrics'; service: string }
  /** Stops the routers of every service not named (a service taken out of the config). */
  | { op: 'retain'; services: string[]; grace: number }
  /** A deliberate stop: drain every router for its service's drain, stop everything, exit. */
  | { op: 'shutdown'; drain: Record<string, number> }
  /** The controller goes away on purpose (a restart): keep serving; the grace starts. */
  | { op: 'detach' }
  /** Starts a process provider's replica, which the supervisor keeps from then on. */
  | { op: 'replica-start'; spec: ReplicaSpec }
  /** Its provisioning is over: restart it when it dies. */
  | { op: 'replica-supervise'; replica: string }
  | { op: 'replica-stop'; replica: string; grace?: number }
  | { op: 'replica-log'; path: string; index: number; stream: LogStream; lines: string[] }
  /** The service's replicas the supervisor keeps: what a new controller adopts. */
  | { op: 'replicas'; service: string }
  /** Every ACME challenge the service's client has pending (replacing the last set), for the edge routers to answer. */
  | { op: 'challenges'; service: string; challenges: Record<string, Challenge> }
  /** The service's ACME client replaced its certificate files: answered once every edge router process loaded them. */
  | { op: 'certificates'; service: string };

export type Answer<R extends Request> = R extends { op: 'attach' | 'status' }
  ? SupervisorStatus
  : R extends { op: 'metrics' }
    ? RouterMetrics
    : R extends { op: 'routers' }
      ? RouterGroupStatus
      : R extends { op: 'replicas' }
        ? RunningReplica[]
        : R extends { op: 'replica-start' }
          ? { pid: number | null; startTime: string | null }
          : null;

export type Wire =
  | ({ id: number } & Request)
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; code: string; message: string }
  /** Unasked news from the supervisor to every attached controller. */
  | SupervisorNews;
