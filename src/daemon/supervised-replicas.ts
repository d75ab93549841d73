// The process provider's replicas run by the stateDir's supervisor (supervisor-replicas.ts) instead
// of this controller: a handle here mirrors each one from the supervisor's news. They outlive the
// controller (a SIGKILL, a restart in place), and the next controller adopts them.
//
// Why the supervisor and not merely detached children of the controller: a replica needs a parent
// that reads its output (a pipe whose reader died makes a replica that logs die of EPIPE), that sees
// its exit at once to restart it (also while no controller is attached), and that stops it when the
// data plane stops for good; the supervisor is that long-lived parent already, for the routers.
import type { ReplicaExit, ReplicaState, ReplicaStatus } from '../providers/types.ts';
import type {
  ReplicaCallbacks,
  ReplicaHandle,
  ReplicaLog,
  ReplicaRunner,
  ReplicaSpec,
  RunningReplica,
} from '../providers/replica-runner.ts';
import type { SupervisorClient } from './supervisor-client.ts';
import type { ReplicaNews } from './supervisor-replicas.ts';

class SupervisedReplica implements ReplicaHandle {
  readonly id: string;
  readonly index: number;
  readonly port: number;
  readonly target: string;
  state: ReplicaState = 'stopped';
  restarts = 0;
  pid: number | null = null;
  lastPid: number | null = null;
  startTime: string | null = null;
  lastExit: ReplicaExit | null = null;
  #supervised = false;
  #lines: string[] = [];
  readonly #runner: SupervisedReplicaRunner;
  readonly #spec: ReplicaSpec | null;
  readonly #callbacks: ReplicaCallbacks;

  constructor(
    runner: SupervisedReplicaRunner,
    at: { id: string; index: number; host: string; port: number },
    spec: ReplicaSpec | null,
    callbacks: ReplicaCallbacks,
  ) {
    this.#runner = runner;
    this.id = at.id;
    this.index = at.index;
    this.port = at.port;
    this.target = `${at.host}:${at.port}`;
    this.#spec = spec;
    this.#callbacks = callbacks;
  }

  get supervised(): boolean {
    return this.#supervised;
  }

  set supervised(on: boolean) {
    if (on && !this.#supervised) this.#runner.client.request({ op: 'replica-supervise', replica: this.id }).catch(() => {});
    this.#supervised = on;
  }

  status(): ReplicaStatus {
    return { index: this.index, target: this.target, pid: this.pid, state: this.state, restarts: this.restarts, lastExit: this.lastExit };
  }

  output(n?: number): string[] {
    return n === undefined ? [...this.#lines] : this.#lines.slice(-n);
  }

  /** The supervisor sends an exit once the output was read to its end. */
  async outputSettled(): Promise<void> {}

  start(): void {
    if (this.#spec === null) throw new Error(`replica ${this.id} was adopted; it cannot be started again`);
    this.state = 'starting';
    this.#runner.client.request({ op: 'replica-start', spec: this.#spec }).then(
      (r) => {
        if (r.pid !== null && this.pid === null && this.state === 'starting') this.started(r.pid, r.startTime, this.restarts);
      },
      (err: Error) => {
        if (this.state !== 'starting') return;
        this.state = 'stopped';
        this.#callbacks.onExit(this, { code: null, signal: null, uptime: 0, at: Date.now() }, null, err);
      },
    );
  }

  async stop(grace?: number): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopping';
    // A supervisor that is gone has stopped its replicas already.
    await this.#runner.client.request({ op: 'replica-stop', replica: this.id, ...(grace === undefined ? {} : { grace }) }).catch(() => {});
    this.state = 'stopped';
    this.pid = null;
    this.#runner.forget(this.id);
  }

  /** Taken over: it runs as the supervisor reports. */
  adopted(found: RunningReplica): void {
    this.#supervised = found.supervised;
    this.restarts = found.restarts;
    if (found.pid === null) this.state = 'backoff';
    else {
      this.state = 'running';
      this.pid = found.pid;
      this.lastPid = found.pid;
      this.startTime = found.startTime;
    }
  }

  started(pid: number, startTime: string | null, restarts: number): void {
    this.state = 'running';
    this.pid = pid;
    this.lastPid = pid;
    this.startTime = startTime;
    this.restarts = restarts;
    this.#callbacks.onStart(this);
  }

  news(n: ReplicaNews): void {
    if (n.push === 'replica-start') {
      if (this.pid !== n.pid) this.started(n.pid, n.startTime, n.restarts);
      return;
    }
    this.pid = null;
    this.lastPid = n.pid;
    this.restarts = n.restarts;
    this.lastExit = n.exit;
    if (n.lastLines.length > 0) this.#lines = n.lastLines;
    if (this.state === 'stopping') {
      this.#callbacks.onExit(this, n.exit, null, null);
      return;
    }
    this.state = n.restartIn === null ? 'stopped' : 'backoff';
    this.#callbacks.onExit(this, n.exit, n.restartIn, n.error === null ? null : new Error(n.error));
  }
}

export class SupervisedReplicaRunner implements ReplicaRunner {
  readonly outlivesController = true;
  readonly client: SupervisorClient;
  readonly #handles = new Map<string, SupervisedReplica>();
  readonly #unsubscribe: () => void;

  constructor(client: SupervisorClient) {
    this.client = client;
    this.#unsubscribe = client.onNews((n) => {
      if (n.push === 'stopping') return;
      const h = this.#handles.get(n.id);
      if (h === undefined) return;
      h.news(n);
      if (h.state === 'stopped') this.#handles.delete(n.id);
    });
  }

  create(spec: ReplicaSpec, callbacks: ReplicaCallbacks): ReplicaHandle {
    const h = new SupervisedReplica(this, spec, spec, callbacks);
    this.#handles.set(spec.id, h);
    return h;
  }

  log(path: string): ReplicaLog {
    let closed = false;
    return {
      write: (replica, stream, lines) => {
        if (!closed) this.client.request({ op: 'replica-log', path, index: replica, stream, lines: [...lines] }).catch(() => {});
      },
      close: () => {
        closed = true;
      },
    };
  }

  running(service: string): Promise<RunningReplica[]> {
    return this.client.request({ op: 'replicas', service });
  }

  adopt(found: RunningReplica, callbacks: ReplicaCallbacks): ReplicaHandle {
    const h = new SupervisedReplica(this, found, null, callbacks);
    h.adopted(found);
    this.#handles.set(found.id, h);
    return h;
  }

  forget(id: string): void {
    this.#handles.delete(id);
  }

  async discard(found: RunningReplica): Promise<void> {
    await this.client.request({ op: 'replica-stop', replica: found.id }).catch(() => {});
  }

  async close(): Promise<void> {
    this.#unsubscribe();
    this.#handles.clear();
  }
}
