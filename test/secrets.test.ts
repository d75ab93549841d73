// cutover's own secrets (CUTOVER_TOKEN, a webhook's signing key, the admin token in stateDir) reach
// no child it starts, and what gates and migrations print is cut of them before a viewer reads it.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse, stringify } from 'yaml';
import { waitFor } from './helpers.ts';
import { cleanup, DEMO_APP, deploy, type Running, startUp, waitPhase, writeSetup } from './lifecycle-helpers.ts';

/** The environment of every live demo-app process started with `version`. */
function replicaEnvs(version: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmd.includes(DEMO_APP) && cmd.includes(version)) out.push(readFileSync(`/proc/${pid}/environ`, 'utf8'));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

test('replicas, gates and migrations get no daemon secret, and what they print reaches viewers redacted', async () => {
  const receiver = http.createServer((req, res) => {
    req.resume();
    res.end('ok');
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const s = await writeSetup({
    gates: [{ command: { run: `env; cat ${JSON.stringify('STATE/admin.token')}`, timeout: '30s' } }],
    migrations: { expand: 'env' },
  });
  const config = parse(readFileSync(s.file, 'utf8'));
  const stateDir = config.stateDir as string;
  config.services.web.gates[0].command.run = `env; cat ${join(stateDir, 'admin.token')}`;
  config.notifications = {
    webhooks: [
      {
        url: `http://127.0.0.1:${(receiver.address() as net.AddressInfo).port}/hook`,
        events: ['promoted'],
        secret: 'CUTOVER_TEST_SIGNING_KEY',
      },
    ],
  };
  writeFileSync(s.file, stringify(config));
  const signingKey = `signing-key-${Math.random().toString(36).slice(2)}`;
  process.env.CUTOVER_TEST_SIGNING_KEY = signingKey;
  const version = `v1-${Math.random().toString(36).slice(2, 8)}`;
  let d: Running | null = null;
  try {
    d = await startUp(s);
    const rel = await deploy(d, version);
    await waitPhase(d, rel.id, ['retired', 'promoted'], 60_000);
    const admin = readFileSync(join(stateDir, 'admin.token'), 'utf8').trim();
    const secrets = { CUTOVER_TOKEN: s.token, CUTOVER_TEST_SIGNING_KEY: signingKey, 'the admin token': admin };

    const envs = await waitFor('the replicas', () => (replicaEnvs(version).length > 0 ? replicaEnvs(version) : undefined));
    for (const env of envs) {
      assert.ok(!env.split('\0').some((kv) => kv.startsWith('CUTOVER_TOKEN=')), 'a replica gets no CUTOVER_TOKEN');
      assert.ok(!env.split('\0').some((kv) => kv.startsWith('CUTOVER_TEST_SIGNING_KEY=')), 'a replica gets no signing key');
    }

    const viewer = await d.api('POST', '/api/v1/tokens', { name: 'watcher', role: 'viewer' });
    assert.equal(viewer.status, 201, JSON.stringify(viewer.json));
    const seen = await fetch(`http://127.0.0.1:${s.apiPort}/api/v1/services/web/releases/${rel.id}`, {
      headers: { authorization: `Bearer ${viewer.json.token}` },
    });
    assert.equal(seen.status, 200);
    const text = await seen.text();
    // The gate and the migration printed their environment, and the gate the admin token file.
    assert.match(text, /CUTOVER_MIGRATION=expand/, 'the migration output is in the events');
    assert.match(text, /CUTOVER_PREVIEW_URL=/, 'the gate output is in the events');
    assert.match(text, /\[redacted\]/, 'the admin token the gate printed is cut out');
    for (const [name, value] of Object.entries(secrets)) assert.ok(!text.includes(value), `${name} is not in what a viewer reads`);
    assert.ok(!text.includes('CUTOVER_TOKEN='), 'no child had CUTOVER_TOKEN to print');
    assert.ok(!text.includes('CUTOVER_TEST_SIGNING_KEY='), 'no child had the signing key to print');
  } finally {
    delete process.env.CUTOVER_TEST_SIGNING_KEY;
    await d?.stop();
    receiver.close();
    cleanup(s);
  }
});
