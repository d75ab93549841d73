// A controller's line to the supervisor of its stateDir: attaches to the running one, or starts one
// detached (its own session, output to stateDir/supervisor.log) when none answers, then asks it to
// run routers, apply route tables and report what they serve.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CutoverError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { processStartTime } from '../providers/groups.ts';
import { type Answer, LOG_FILE, type Request, runtimeDir, socketPath, type SupervisorStatus, type Wire } from './protocol.ts';
import type { SupervisorNews } from './supervisor-replicas.ts';

/** How long a controller waits for a supervisor it started to answer. */
const START_TIMEOUT_MS = 10_000;
const RETRY_MS = 25;
/** How long a controller waits for the supervisor to answer its attach (it answers at once). */
const ATTACH_TIMEOUT_MS = 10_000;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class SupervisorClient {
  readonly #socket: net.Socket;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Set<(news: SupervisorNews) => void>();
  #seq = 0;
  #closed = false;
  readonly closed: Promise<void>;
  /** What the supervisor ran when this controller attached. */
  attached: SupervisorStatus | null = null;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
        const m = JSON.parse(buffered.slice(0, i)) as Wire;
        buffered = buffered.slice(i + 1);
        if ('push' in m) {
          for (const l of this.#listeners) l(m);
          continue;
        }
        const p = 'ok' in m ? this.#pending.get(m.id) : undefined;
        if (p === undefined || !('ok' in m)) continue;
        this.#pending.delete(m.id);
        if (m.ok) p.resolve(m.result);
        else p.reject(new CutoverError(m.code as never, m.message, 500));
      }
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.#closed = true;
        for (const p of this.#pending.values())
          p.reject(new CutoverError('CUTOVER_E_INTERNAL', 'the supervisor went away; see supervisor.log in the stateDir', 500));
        this.#pending.clear();
        resolve();
      }),
    );
  }

  /** Attaches to the stateDir's supervisor, starting one first when none runs. */
  static async attach(stateDir: string, grace: number, log: Logger, attachTimeoutMs = ATTACH_TIMEOUT_MS): Promise<SupervisorClient> {
    const path = socketPath(stateDir);
    let socket = await connect(path);
    if (socket === null) {
      startSupervisor(stateDir, grace);
      const deadline = Date.now() + START_TIMEOUT_MS;
      while (socket === null) {
        if (Date.now() > deadline) {
          throw new CutoverError(
            'CUTOVER_E_INTERNAL',
            `the supervisor did not answer on ${path} within ${START_TIMEOUT_MS} ms; see ${logPath(stateDir)}`,
            500,
          );
        }
        await new Promise((r) => setTimeout(r, RETRY_MS));
        socket = await connect(path);
      }
    }
    const client = new SupervisorClient(socket);
    // It answers at once; a supervisor that takes longer is stuck, and this controller would never start.
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new CutoverError(
            'CUTOVER_E_INTERNAL',
            `the supervisor on ${path} took the connection but did not answer within ${attachTimeoutMs} ms; see ${logPath(stateDir)}, and stop its process if it stays stuck`,
            500,
          ),
        );
      }, attachTimeoutMs);
    });
    try {
      client.attached = await Promise.race([client.request({ op: 'attach', grace, pid: process.pid }), stuck]);
    } catch (err) {
      // Refused (another controller is attached) or stuck: this process lets go, so it can exit.
      socket.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    log.info('attached to the supervisor', {
      pid: client.attached.pid,
      routers: client.attached.routers.map((r) => `${r.service}@${r.generation}`),
    });
    return client;
  }

  /** News the supervisor sends unasked (replica starts and exits, a stop); returns a function that unsubscribes. */
  onNews(listener: (news: SupervisorNews) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get connected(): boolean {
    return !this.#closed;
  }

  request<R extends Request>(r: R): Promise<Answer<R>> {
    if (this.#closed) return Promise.reject(new CutoverError('CUTOVER_E_INTERNAL', 'the supervisor went away; see supervisor.log', 500));
    const id = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#socket.write(`${JSON.stringify({ id, ...r })}\n`);
    });
  }

  /** Leaves the supervisor running (a restart); the grace starts once this socket closes. */
  async detach(): Promise<void> {
    if (this.#closed) return;
    await this.request({ op: 'detach' }).catch(() => {});
    this.#socket.end();
    await this.closed;
  }

  /** A deliberate stop: the supervisor drains and stops everything; resolves once it has. */
  async shutdown(drain: Record<string, number>): Promise<void> {
    if (this.#closed) return;
    await this.request({ op: 'shutdown', drain }).catch(() => {});
    await this.closed;
    // The socket closes a moment before the supervisor's process exits (and lets go of its log in the
    // stateDir): `cutover up` leaves only once nothing of its stateDir runs, bounded.
    const pid = this.attached?.pid;
    for (let i = 0; pid !== undefined && i < EXIT_WAIT_MS / 20 && processStartTime(pid) !== null; i++)
      await new Promise((r) => setTimeout(r, 20));
  }
}

/** How long a deliberate stop waits for the supervisor's process to be gone once its socket closed. */
const EXIT_WAIT_MS = 5000;

function connect(path: string): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => resolve(s));
    s.once('error', () => resolve(null));
  });
}

/** stateDir/supervisor.log, or the socket's folder when the stateDir cannot be written (full, read-only). */
function logPath(stateDir: string): string {
  const inState = join(stateDir, LOG_FILE);
  try {
    closeSync(openSync(inState, 'a', 0o600));
    return inState;
  } catch {
    return join(runtimeDir(stateDir), LOG_FILE);
  }
}

function startSupervisor(stateDir: string, grace: number): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const out = openSync(logPath(stateDir), 'a', 0o600);
  const env = { ...process.env };
  // The admin token is the controller's; nothing the supervisor starts may see it.
  delete env.CUTOVER_TOKEN;
  const child = spawn(process.execPath, [fileURLToPath(new URL('./supervisor-main.ts', import.meta.url)), stateDir, String(grace)], {
    detached: true,
    stdio: ['ignore', out, out],
    env,
  });
  child.unref();
  closeSync(out);
}
