// Test certificates made with Debian's openssl: a throwaway CA and leaf certificates for host names,
// written into a temp folder, so TLS tests run real handshakes that the test client can verify.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';

export interface TestCa {
  dir: string;
  cert: string;
  key: string;
  pem: string;
}

export interface TestCert {
  cert: string;
  key: string;
  serial: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeCa(dir = mkdtempSync(join(tmpdir(), 'cutover-tls-'))): TestCa {
  const cert = join(dir, 'ca.pem');
  const key = join(dir, 'ca.key');
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    '/CN=cutover test CA',
  ]);
  return { dir, cert, key, pem: readFileSync(cert, 'utf8') };
}

let seq = 0;

/** A leaf for `hosts` signed by `ca`, written as `<name>.pem` / `<name>.key` (or to the given paths). */
export function makeCert(ca: TestCa, hosts: string[], name: string, out?: { cert: string; key: string }): TestCert {
  const n = `${name}-${process.pid}-${++seq}`;
  const csr = join(ca.dir, `${n}.csr`);
  const ext = join(ca.dir, `${n}.ext`);
  const key = out?.key ?? join(ca.dir, `${name}.key`);
  const cert = out?.cert ?? join(ca.dir, `${name}.pem`);
  writeFileSync(ext, `subjectAltName=${hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',')}\n`);
  openssl([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    `/CN=${hosts[0]}`,
  ]);
  let serial = (Date.now() * 1000 + seq).toString(16);
  if (serial.length % 2 === 1) serial = `0${serial}`; // as node prints it: whole bytes
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-set_serial',
    `0x${serial}`,
    '-days',
    '1',
    '-out',
    cert,
    '-extfile',
    ext,
  ]);
  return { cert, key, serial };
}
