// HAProxy driven through its runtime API (the stats socket, `level admin`). The slots' targets are
// dynamic servers of the named backend (`add server`, HAProxy 2.4+), named `cutover-<slot>-<address>`;
// a switch raises the new slot's servers before it drains the old ones, so a request always finds a
// server (the other order dropped about 5 requests per switch here). Servers HAProxy keeps for
// itself (written in haproxy.cfg) are left alone and reported. Dynamic servers live in the process
// only: when HAProxy restarts (its Pid changes) the last state is applied again. Its per-server
// counters (`show stat`) are what analysis judges, since users' requests never pass cutover's router.
import net from 'node:net';
import { parseHostPort } from '../config/address.ts';
import { joinHostPort } from '../net/address.ts';
import type { HaproxyTraffic, SlotName } from '../config/types.ts';
import { SLOTS } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { drift, intendedWeights } from './drift.ts';
import {
  trafficRefused,
  trafficUnreachable,
  type BalancerCounters,
  type ObservedTraffic,
  type TrafficAdapter,
  type TrafficState,
} from './types.ts';

const KIND = 'haproxy';
/** One runtime API command must be answered within this. */
const COMMAND_TIMEOUT_MS = 5000;
/** How often the adapter asks HAProxy whether it restarted. */
const WATCH_INTERVAL_MS = 1000;
/** HAProxy's largest server weight. */
const MAX_WEIGHT = 256;
const PREFIX = 'cutover-';
// Bits of srv_admin_state: forced/inherited/resolver maintenance (0x01 0x02 0x04 0x20 0x40) and drain (0x08 0x10).
const ADMIN_MAINT = 0x01 | 0x02 | 0x04 | 0x20 | 0x40;
const ADMIN_DRAIN = 0x08 | 0x10;

/** One row of `show servers state <backend>`. */
interface ServerRow {
  name: string;
  address: string;
  opState: number;
  adminState: number;
  weight: number;
}

export interface HaproxyAdapterOptions {
  log: Logger;
  /** Default 1 s; tests make it shorter. */
  watchInterval?: number;
}

export class HaproxyAdapter implements TrafficAdapter {
  readonly kind = KIND;
  readonly capabilities = { lossless: true, weighted: true, eventual: false };
  readonly #cfg: HaproxyTraffic;
  readonly #log: Logger;
  #last: TrafficState | null = null;
  /** HAProxy's Pid and start time when the last state was applied: a change means it restarted. */
  #process: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #busy: Promise<void> = Promise.resolve();
  #reapplied = 0;
  #watching = false;
  /** The restarted HAProxy last counted in #reapplied. */
  #restartSeen: string | null = null;

  constructor(cfg: HaproxyTraffic, opts: HaproxyAdapterOptions) {
    this.#cfg = cfg;
    this.#log = opts.log.child({ traffic: KIND, backend: cfg.backend });
    this.#timer = setInterval(() => void this.#watch(), opts.watchInterval ?? WATCH_INTERVAL_MS);
    this.#timer.unref();
  }

  apply(state: TrafficState): Promise<void> {
    const run = () => this.#apply(state);
    const p = this.#busy.then(run, run);
    this.#busy = p.catch(() => {});
    return p;
  }

  async #apply(state: TrafficState): Promise<void> {
    const process = await this.#processId();
    const rows = await this.#servers();
    const have = new Map(rows.map((r) => [r.name, r]));
    const want = intendedWeights(state);
    const wanted = new Set<string>();
    // 1. Every target of both slots is a server of the backend; new ones start in maintenance.
    for (const slot of SLOTS) {
      for (const address of state.slots[slot].targets) {
        const name = serverName(slot, address);
        wanted.add(name);
        if (!have.has(name)) await this.#command(`add server ${this.#cfg.backend}/${name} ${haproxyAddress(address)} weight 1`);
      }
    }
    // 2. Raise the slots that get traffic, 3. then drain the others: in this order a request always finds a server.
    const order = [...SLOTS].sort((a, b) => want[b] - want[a]);
    for (const slot of order) {
      const targets = state.slots[slot].targets;
      const weight = serverWeight(want[slot], targets.length);
      for (const address of targets) {
        const srv = `${this.#cfg.backend}/${serverName(slot, address)}`;
        if (weight > 0) {
          await this.#command(`set server ${srv} weight ${weight}`);
          await this.#command(`set server ${srv} state ready`);
        } else {
          await this.#command(`set server ${srv} state drain`);
        }
      }
    }
    // 4. Servers of targets no longer in the route table: maintenance, then deleted once their connections are gone.
    for (const row of rows) {
      if (!row.name.startsWith(PREFIX) || wanted.has(row.name)) continue;
      const srv = `${this.#cfg.backend}/${row.name}`;
      await this.#command(`set server ${srv} state maint`);
      await this.#command(`del server ${srv}`).catch((err: Error) =>
        this.#log.info('server kept until its connections end', { server: row.name, reason: err.message }),
      );
    }
    // 5. Read back what HAProxy does now; anything else than the route table refuses the switch.
    const observed = await this.observe();
    const wrong = drift(state, observed);
    if (wrong.length > 0) throw trafficRefused(KIND, `backend ${this.#cfg.backend} does not serve the route table: ${wrong.join('; ')}`);
    this.#last = state;
    this.#process = process;
  }

  async observe(): Promise<ObservedTraffic> {
    const rows = await this.#servers();
    const targets: Record<SlotName, string[]> = { blue: [], green: [] };
    const weights = { blue: 0, green: 0 };
    const foreign: string[] = [];
    let total = 0;
    for (const row of rows) {
      const serving = row.opState !== 0 && (row.adminState & (ADMIN_MAINT | ADMIN_DRAIN)) === 0 && row.weight > 0;
      const slot = slotOf(row.name);
      if (slot === null) {
        if (serving) foreign.push(`${row.name} (${row.address})`);
        if (serving) total += row.weight;
        continue;
      }
      if (!serving) continue;
      targets[slot].push(row.address);
      weights[slot] += row.weight;
      total += row.weight;
    }
    const share = total === 0 ? { blue: 0, green: 0 } : { blue: (100 * weights.blue) / total, green: (100 * weights.green) / total };
    const notes: string[] = [];
    if (foreign.length > 0) notes.push(`servers written in haproxy.cfg also take traffic: ${foreign.join(', ')}`);
    if (this.#reapplied > 0) notes.push(`state applied again after ${this.#reapplied} HAProxy restart(s)`);
    return {
      weights: share,
      targets,
      detail: `backend ${this.#cfg.backend}: blue ${targets.blue.length} server(s) ${round(share.blue)}%, green ${targets.green.length} server(s) ${round(share.green)}%`,
      ...(notes.length > 0 && { notes }),
    };
  }

  /**
   * Per-server counters of the backend's cutover servers from `show stat`. HAProxy counts in req_tot
   * and hrsp_5xx only the requests a server answered; one it could not connect to (econ) or whose
   * response broke (eresp) was answered 503/502 by HAProxy itself, and is a failed request too.
   */
  async counters(): Promise<BalancerCounters> {
    const process = await this.#processId();
    const text = await this.#command(`show stat ${this.#cfg.backend} 4 -1`, true);
    return { process, slots: parseStat(text, this.#cfg.backend) };
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#busy;
  }

  /**
   * A restarted HAProxy has lost its dynamic servers: give it the last state again. Queued like any
   * apply, and the state read only when its turn comes, so a switch in flight is never undone.
   */
  async #watch(): Promise<void> {
    if (this.#last === null || this.#watching) return;
    this.#watching = true;
    try {
      if ((await this.#processId()) === this.#process) return;
      const run = async (): Promise<void> => {
        const state = this.#last;
        const now = await this.#processId();
        if (state === null || now === this.#process) return;
        this.#log.warn('HAProxy restarted; applying the route table again', { generation: state.generation });
        // Counted before its servers appear, so status never shows them without the note; once per restart.
        if (now !== this.#restartSeen) this.#reapplied++;
        this.#restartSeen = now;
        await this.#apply(state);
      };
      const p = this.#busy.then(run, run);
      this.#busy = p.catch(() => {});
      await p;
    } catch (err) {
      // Down or restarting, or it refused: asked again at the next tick.
      this.#log.debug('HAProxy not given the route table again yet', { error: (err as Error).message });
    } finally {
      this.#watching = false;
    }
  }

  async #processId(): Promise<string> {
    const info = await this.#command('show info', true);
    const field = (name: string) => info.match(new RegExp(`^${name}: (.*)$`, 'm'))?.[1] ?? '';
    return `${field('Pid')}@${field('Start_time_sec')}`;
  }

  async #servers(): Promise<ServerRow[]> {
    const text = await this.#command(`show servers state ${this.#cfg.backend}`, true);
    if (!/^# be_id/m.test(text))
      throw trafficRefused(KIND, `backend ${this.#cfg.backend}: ${text.trim() || 'no answer'}; name a backend of haproxy.cfg`);
    const out: ServerRow[] = [];
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/);
      // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight ... srv_port (19th).
      if (f.length < 19 || line.startsWith('#') || f[1] !== this.#cfg.backend) continue;
      out.push({
        name: f[3] as string,
        address: joinHostPort(f[4] as string, f[18] as string),
        opState: Number(f[5]),
        adminState: Number(f[6]),
        weight: Number(f[7]),
      });
    }
    return out;
  }

  /**
   * One command on its own connection (the socket's non-interactive mode). A command that changes
   * something answers nothing or a fixed sentence; anything else is HAProxy refusing it. `read`
   * returns the answer instead.
   */
  #command(cmd: string, read = false): Promise<string> {
    const where = this.#cfg.socket;
    return new Promise((resolve, reject) => {
      let answer = '';
      let connected = false;
      const sock = isHostPort(where) ? net.connect(parseHostPort(where)) : net.connect({ path: where });
      sock.setTimeout(COMMAND_TIMEOUT_MS, () => sock.destroy(new Error(`no answer within ${COMMAND_TIMEOUT_MS} ms`)));
      sock.on('connect', () => (connected = true));
      sock.on('data', (d) => (answer += d.toString()));
      sock.once('error', (err) => {
        reject(
          connected
            ? trafficUnreachable(KIND, `the runtime API at ${where} failed during "${cmd}" (${err.message}); is HAProxy running?`, err)
            : trafficUnreachable(
                KIND,
                `cannot reach the runtime API at ${where} (${err.message}); start HAProxy with "stats socket ${where} level admin"`,
                err,
              ),
        );
      });
      sock.once('close', (hadError) => {
        if (hadError) return;
        const text = answer.trim();
        if (read || text === '' || OK_ANSWERS.has(text)) resolve(answer);
        else if (/permission denied/i.test(text))
          reject(trafficRefused(KIND, `"${cmd}" was refused: ${text}; the stats socket needs "level admin"`));
        else reject(trafficRefused(KIND, `"${cmd}" was refused: ${text}`));
      });
      sock.end(`${cmd}\n`);
    });
  }
}

/** The cutover servers of `backend` in `show stat` CSV, by slot and name. */
export function parseStat(text: string, backend: string): BalancerCounters['slots'] {
  const out: BalancerCounters['slots'] = { blue: {}, green: {} };
  const lines = text.split('\n');
  const header = lines.find((l) => l.startsWith('# '));
  if (header === undefined) throw trafficRefused(KIND, `"show stat ${backend}" answered ${text.trim().slice(0, 200) || 'nothing'}`);
  const col = new Map(
    header
      .slice(2)
      .split(',')
      .map((name, i) => [name, i]),
  );
  // Only columns before the first free-text one (check_desc) are read, so a comma inside it cannot shift them.
  const at = (f: string[], name: string): number => Number(f[col.get(name) ?? -1] || 0);
  for (const line of lines) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const f = line.split(',');
    const slot = slotOf(f[1] ?? '');
    if (f[0] !== backend || slot === null) continue;
    const failed = at(f, 'econ') + at(f, 'eresp');
    const ttime = f[col.get('ttime') ?? -1];
    out[slot][f[1] as string] = {
      requests: at(f, 'req_tot') + failed,
      errors: at(f, 'hrsp_5xx') + failed,
      recentMeanMs: ttime === undefined || ttime === '' ? null : Number(ttime),
    };
  }
  return out;
}

const OK_ANSWERS = new Set(['New server registered.', 'Server deleted.']);

/** `cutover-blue-127.0.0.1_3001`: HAProxy server names take letters, digits and - _ . : only. */
export function serverName(slot: SlotName, address: string): string {
  return `${PREFIX}${slot}-${address.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
}

function slotOf(name: string): SlotName | null {
  for (const slot of SLOTS) if (name.startsWith(`${PREFIX}${slot}-`)) return slot;
  return null;
}

/**
 * Per-server weight so that a slot's servers together get `percent` of the backend: HAProxy splits by
 * the sum of weights, at most 256 per server; a slot that gets anything gets at least 1 per server.
 */
export function serverWeight(percent: number, servers: number): number {
  if (percent <= 0 || servers === 0) return 0;
  return Math.max(1, Math.min(MAX_WEIGHT, Math.round((MAX_WEIGHT * percent) / 100 / servers)));
}

function haproxyAddress(address: string): string {
  const { host, port } = parseHostPort(address);
  return host.includes(':') ? `ipv6@${host}:${port}` : `${host}:${port}`;
}

function isHostPort(s: string): boolean {
  try {
    parseHostPort(s);
    return true;
  } catch {
    return false;
  }
}

const round = (n: number): number => Math.round(n * 10) / 10;
