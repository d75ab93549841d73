// Debian's pebble (Let's Encrypt's ACME test server) on loopback for the ACME tests, with
// pebble-challtestsrv as its DNS server answering 127.0.0.1 for every name, so the hosts under test
// resolve to the listeners of this machine. Its challenge ports point at our listeners.
import { type ChildProcess, spawn } from 'node:child_process';
import https from 'node:https';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitFor } from './helpers.ts';
import { makeCert, type TestCa } from './tls.ts';

export interface Pebble {
  directory: string;
  /** The root that signs what pebble issues (regenerated at every start). */
  root(): Promise<string>;
  stop(): Promise<void>;
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  });
}

/** Starts pebble validating HTTP-01 on `httpPort` and TLS-ALPN-01 on `tlsPort`; `ca` signs its own HTTPS certificate. */
export async function startPebble(ca: TestCa, opts: { httpPort: number; tlsPort: number; validitySeconds?: number }): Promise<Pebble> {
  const [port, mgmt, dns, dnsMgmt] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const cert = makeCert(ca, ['127.0.0.1', 'localhost'], `pebble-${port}`);
  const config = join(ca.dir, `pebble-${port}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${mgmt}`,
        certificate: cert.cert,
        privateKey: cert.key,
        httpPort: opts.httpPort,
        tlsPort: opts.tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
        ...(opts.validitySeconds ? { certificateValidityPeriod: opts.validitySeconds } : {}),
      },
    }),
  );
  const dnsSrv = spawn(
    'pebble-challtestsrv',
    [
      '-dns01',
      `127.0.0.1:${dns}`,
      '-http01',
      '',
      '-https01',
      '',
      '-tlsalpn01',
      '',
      '-management',
      `127.0.0.1:${dnsMgmt}`,
      '-defaultIPv4',
      '127.0.0.1',
      '-defaultIPv6',
      '',
    ],
    { stdio: 'ignore' },
  );
  let out = '';
  const child = spawn('pebble', ['-config', config, '-dnsserver', `127.0.0.1:${dns}`], {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const directory = `https://127.0.0.1:${port}/dir`;
  try {
    await waitFor(
      'pebble to answer',
      async () => {
        if (child.exitCode !== null) throw new Error(`pebble exited: ${out}`);
        return (await get(directory, ca.pem)).status === 200;
      },
      10_000,
    );
  } catch (err) {
    await Promise.all([stopChild(child), stopChild(dnsSrv)]);
    throw err;
  }
  return {
    directory,
    root: async () => (await get(`https://127.0.0.1:${mgmt}/roots/0`, ca.pem)).body,
    stop: () => Promise.all([stopChild(child), stopChild(dnsSrv)]).then(() => {}),
  };
}
