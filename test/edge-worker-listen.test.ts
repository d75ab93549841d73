// A router process of a shared listener, started again on the supervisor's socket, accepts no
// connection before it has joined every service of the listener: a connection for the second
// service's host that waits in the socket's queue while only the first service is in gets that
// second service's certificate once both are, never the first one's (nor a 421).
import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import { parseConfig } from '../src/config/load.ts';
import { BoundSockets } from '../src/daemon/bound-sockets.ts';
import { edgeConfigOf } from '../src/edge/host.ts';
import type { EdgeParentMessage, EdgeWorkerMessage } from '../src/edge/worker.ts';
import { routerOptions } from '../src/traffic/router-options.ts';
import { freePort, waitFor } from './helpers.ts';
import { makeCa, makeCert } from './tls.ts';

const WORKER = new URL('../src/edge/worker.ts', import.meta.url);

function startWorker(): { child: ChildProcess; added: Set<string> } {
  const child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, CUTOVER_WORKER: '0' } });
  const added = new Set<string>();
  child.on('message', (m: EdgeWorkerMessage) => {
    if (m.t === 'added') added.add(m.service);
  });
  return { child, added };
}

/** The TLS handshake for `host`: the certificate's fingerprint, or `pending` if none within `ms`. */
function handshake(port: number, host: string, ca: string, ms: number): { result: Promise<string>; socket: tls.TLSSocket } {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: host, ca });
  const result = new Promise<string>((resolve) => {
    const t = setTimeout(() => resolve('pending'), ms);
    socket.once('secureConnect', () => {
      clearTimeout(t);
      resolve(socket.getPeerCertificate().fingerprint256);
    });
    socket.once('error', (err) => {
      clearTimeout(t);
      resolve(`error: ${err.message}`);
    });
  });
  return { result, socket };
}

test('a router process started again on a shared socket accepts only once it has joined every service of the listener', async () => {
  const ca = makeCa();
  const certs = { app: makeCert(ca, ['app.test'], 'app'), api: makeCert(ca, ['api.test'], 'api') };
  const fingerprint = (c: { cert: string }) => new X509Certificate(readFileSync(c.cert)).fingerprint256;
  const port = await freePort();
  const listen = `127.0.0.1:${port}`;
  const service = (name: 'app' | 'api') =>
    `  ${name}:\n    listen: ${listen}\n    hosts: [${name}.test]\n    tls: { certificate: ${certs[name].cert}, key: ${certs[name].key} }\n    provider: { kind: static, blue: [127.0.0.1:9], green: [127.0.0.1:9] }\n`;
  const config = parseConfig(
    `stateDir: ${join(ca.dir, 'state')}\nservices:\n${service('app')}${service('api')}`,
    join(ca.dir, 'cutover.yaml'),
  );
  const add = (name: 'app' | 'api', hold: boolean): EdgeParentMessage => {
    const cfg = config.services[name]!;
    return { t: 'add', service: name, opts: { ...routerOptions(cfg), listen }, edge: edgeConfigOf(cfg), ...(hold ? { hold } : {}) };
  };
  // The supervisor's copy of the socket: it stays open (connections queue on it) while a process restarts.
  const sockets = new BoundSockets();
  const bound = sockets.take(listen, 'test');
  const workers: ChildProcess[] = [];
  const pending: tls.TLSSocket[] = [];
  try {
    // The first process serves both services; its listen puts the shared socket in LISTEN.
    const first = startWorker();
    workers.push(first.child);
    first.child.send({ t: 'socket', address: listen } satisfies EdgeParentMessage, bound.handle as never);
    first.child.send(add('app', false));
    first.child.send(add('api', false));
    await waitFor('the first process serving both', () => first.added.size === 2 || undefined, 60_000);
    assert.equal(await handshake(port, 'api.test', ca.pem, 10_000).result, fingerprint(certs.api));
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));

    // Started again, it is given the first service only, as a restart would before the second's add runs.
    const again = startWorker();
    workers.push(again.child);
    again.child.send({ t: 'socket', address: listen } satisfies EdgeParentMessage, bound.handle as never);
    again.child.send(add('app', true));
    const early = handshake(port, 'api.test', ca.pem, 3000);
    pending.push(early.socket);
    assert.equal(await early.result, 'pending', 'no handshake while only app is joined: the connection waits in the queue');
    assert.equal(again.added.size, 0, 'a held service is not reported served before the process listens');

    again.child.send(add('api', true));
    again.child.send({ t: 'listen' } satisfies EdgeParentMessage);
    const late = handshake(port, 'app.test', ca.pem, 30_000);
    pending.push(late.socket);
    const [waited, fresh] = await Promise.all([
      // The connection that waited finishes its handshake now, with its own host's certificate.
      new Promise<string>((resolve) => {
        if (early.socket.authorized) return resolve(early.socket.getPeerCertificate().fingerprint256);
        early.socket.once('secureConnect', () => resolve(early.socket.getPeerCertificate().fingerprint256));
        early.socket.once('error', (err) => resolve(`error: ${err.message}`));
        setTimeout(() => resolve('still pending after 30 s'), 30_000).unref();
      }),
      late.result,
    ]);
    assert.equal(waited, fingerprint(certs.api));
    assert.equal(fresh, fingerprint(certs.app));
    await waitFor('both services reported served', () => again.added.size === 2 || undefined, 10_000);
  } finally {
    for (const s of pending) s.destroy();
    for (const w of workers) w.kill('SIGKILL');
    sockets.release(bound, 'test');
    rmSync(ca.dir, { recursive: true, force: true });
  }
});
