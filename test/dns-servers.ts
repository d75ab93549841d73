// Debian's authoritative DNS servers for the DNS adapter tests, each started in a temp dir on free
// loopback ports in the foreground and stopped by PID: PowerDNS (pdns_server, the sqlite3 backend
// with the schema the package ships, the HTTP API on with a key) and BIND (named, one dynamic zone
// whose update-policy lets one TSIG key change one name). `dig` reads what they answer.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { ROOT, freePort, GiveUp, waitFor } from './helpers.ts';

const PDNS = '/usr/sbin/pdns_server';
const PDNS_SCHEMA = '/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql';
const NAMED = '/usr/sbin/named';
const DIG = '/usr/bin/dig';

export const ZONE = 'example.test.';
export const RECORD = 'web.example.test.';

/** Installs the Debian packages when a program is missing and we may (root); otherwise says how. */
function ensure(file: string, packages: string[]): void {
  if (existsSync(file)) return;
  spawnSync('bash', [join(ROOT, 'scripts/install-system-deps.sh'), ...packages], { stdio: 'inherit', timeout: 300_000 });
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`bash scripts/install-system-deps.sh ${packages.join(' ')}\` as root`);
}

export interface RunningDns {
  /** Where DNS queries (and, for BIND, updates) go. */
  host: string;
  port: number;
  output: () => string;
  stop(): Promise<void>;
}

export interface RunningPowerDns extends RunningDns {
  /** The HTTP API's base URL and key. */
  api: string;
  apiKey: string;
}

export interface RunningBind extends RunningDns {
  keyName: string;
  keySecret: string;
}

/** What `dig` answers for A records of `name` at the server: the addresses, sorted, and the TTL. */
export function dig(server: { host: string; port: number }, name = RECORD): { addresses: string[]; ttl: number | null } {
  ensure(DIG, ['dnsutils']);
  const r = spawnSync(DIG, [`@${server.host}`, '-p', String(server.port), '+tcp', '+norecurse', '+noall', '+answer', name, 'A'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (r.status !== 0) throw new Error(`dig failed (${r.status}): ${r.stderr}${r.stdout}`);
  const rows = r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 5 && f[3] === 'A');
  return { addresses: rows.map((f) => f[4]!).sort(), ttl: rows.length > 0 ? Number(rows[0]![1]) : null };
}

function spawnServer(
  program: string,
  args: string[],
  dir: string,
): { child: ChildProcess; output: () => string; stop: () => Promise<void> } {
  let log = '';
  const child = spawn(program, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const pid = child.pid;
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(pid, 'SIGTERM');
      const t = setTimeout(() => child.exitCode === null && child.signalCode === null && process.kill(pid, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { child, output: () => log, stop };
}

/** PowerDNS with the zone `example.test.` (made through its API) and `web` pointing at `initial`. */
export async function startPowerDns(initial: string[]): Promise<RunningPowerDns> {
  ensure(PDNS, ['pdns-server', 'pdns-backend-sqlite3']);
  ensure(PDNS_SCHEMA, ['pdns-backend-sqlite3']);
  const dir = mkdtempSync(join(tmpdir(), 'cutover-pdns-'));
  const db = new DatabaseSync(join(dir, 'pdns.sqlite3'));
  db.exec(readFileSync(PDNS_SCHEMA, 'utf8'));
  db.close();
  const port = await freePort();
  const apiPort = await freePort();
  const apiKey = randomBytes(12).toString('hex');
  writeFileSync(
    join(dir, 'pdns.conf'),
    [
      'launch=gsqlite3',
      `gsqlite3-database=${join(dir, 'pdns.sqlite3')}`,
      'local-address=127.0.0.1',
      `local-port=${port}`,
      'api=yes',
      `api-key=${apiKey}`,
      'webserver=yes',
      'webserver-address=127.0.0.1',
      `webserver-port=${apiPort}`,
      'webserver-allow-from=127.0.0.0/8',
      `socket-dir=${dir}`,
      'guardian=no',
      'daemon=no',
      'disable-syslog=yes',
      'loglevel=4',
      'receiver-threads=1',
      'distributor-threads=1',
      '',
    ].join('\n'),
  );
  const s = spawnServer(PDNS, [`--config-dir=${dir}`], dir);
  const api = `http://127.0.0.1:${apiPort}`;
  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${api}/api/v1/servers/localhost${path}`, {
      method,
      headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(3000),
    });
  try {
    await waitFor(
      'PowerDNS API to answer',
      async () => {
        if (s.child.exitCode !== null) throw new GiveUp(`pdns_server exited ${s.child.exitCode}: ${s.output()}`);
        return (await call('GET', '')).ok;
      },
      20_000,
    );
    const created = await call('POST', '/zones', {
      name: ZONE,
      kind: 'Native',
      nameservers: [`ns.${ZONE}`],
      rrsets: [{ name: RECORD, type: 'A', ttl: 5, records: initial.map((content) => ({ content, disabled: false })) }],
    });
    if (created.status !== 201) throw new Error(`PowerDNS refused the test zone: ${created.status} ${await created.text()}`);
  } catch (err) {
    await s.stop();
    throw err;
  }
  return { host: '127.0.0.1', port, api, apiKey, output: s.output, stop: s.stop };
}

/** BIND with the dynamic zone `example.test.` whose `web` name the key `cutover.` may change. */
export async function startBind(initial: string[]): Promise<RunningBind> {
  ensure(NAMED, ['bind9']);
  const dir = mkdtempSync(join(tmpdir(), 'cutover-bind-'));
  const port = await freePort();
  const keyName = 'cutover.';
  const keySecret = randomBytes(32).toString('base64');
  writeFileSync(
    join(dir, 'example.test.db'),
    [
      '$TTL 60',
      `@ IN SOA ns.${ZONE} hostmaster.${ZONE} 1 3600 600 86400 5`,
      `@ IN NS ns.${ZONE}`,
      'ns IN A 127.0.0.1',
      ...initial.map((a) => `web 5 IN A ${a}`),
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'named.conf'),
    `options {
  directory "${dir}";
  pid-file "${dir}/named.pid";
  session-keyfile "${dir}/session.key";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  notify no;
};
controls { };
key "${keyName}" { algorithm hmac-sha256; secret "${keySecret}"; };
zone "example.test" {
  type primary;
  file "${dir}/example.test.db";
  update-policy { grant ${keyName} name ${RECORD} A AAAA; };
};
`,
  );
  const s = spawnServer(NAMED, ['-g', '-n', '1', '-c', join(dir, 'named.conf')], dir);
  const server = { host: '127.0.0.1', port, keyName, keySecret, output: s.output, stop: s.stop };
  try {
    await waitFor(
      'named to answer',
      () => {
        if (s.child.exitCode !== null) throw new GiveUp(`named exited ${s.child.exitCode}: ${s.output()}`);
        return s.output().includes('running') && dig(server, `ns.${ZONE}`).addresses.length === 1;
      },
      20_000,
    );
  } catch (err) {
    await s.stop();
    throw err;
  }
  return server;
}
