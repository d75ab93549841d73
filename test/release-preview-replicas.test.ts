// previewReplicas with the real daemon and real replica processes: a new version is previewed and
// gated on fewer replicas, and scaled up to `replicas`, all healthy, before traffic moves to it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitFor } from './helpers.ts';
import { cleanup, cli, DEMO_APP, deploy, replicasOf, served, startUp, waitPhase, writeSetup } from './lifecycle-helpers.ts';
import { release } from './release-helpers.ts';

test('with replicas 3 and previewReplicas 1, the gates and preview see one replica of the new version, and three serve it after the switch', async () => {
  const tag = Math.random().toString(36).slice(2, 8);
  const [v1, v2] = [`pr1-${tag}`, `pr2-${tag}`];
  const s = await writeSetup({
    provider: { kind: 'process', command: [process.execPath, DEMO_APP, '{version}'], replicas: 3, previewReplicas: 1, stopGrace: '2s' },
    // The gate writes the targets it was given and how many replica processes of its version run.
    gates: [{ command: { run: 'echo "$CUTOVER_TARGETS" > "gate-$CUTOVER_VERSION.txt"', timeout: '10s' } }],
    approval: 'manual',
  });
  const d = await startUp(s);
  try {
    const first = await deploy(d, v1);
    await waitPhase(d, first.id, ['awaiting-approval']);
    assert.equal(replicasOf(v1), 1, 'a first release is previewed on one replica too');
    assert.equal(cli(s, ['promote', 'web']).code, 0);
    await waitPhase(d, first.id, ['promoted', 'retired']);
    assert.equal(replicasOf(v1), 3);

    const second = await deploy(d, v2);
    const waiting = await waitPhase(d, second.id, ['awaiting-approval']);
    const gateTargets = readFileSync(join(s.dir, `gate-${v2}.txt`), 'utf8')
      .trim()
      .split(/[\s,]+/);
    assert.equal(gateTargets.length, 1, `the gate ran against one target: ${gateTargets.join(' ')}`);
    assert.equal(replicasOf(v2), 1, 'one replica of the new version runs while it waits for approval');
    assert.equal(replicasOf(v1), 3, 'the live version keeps its three');
    assert.equal((await served(s.port)).version, v1);

    assert.equal(cli(s, ['promote', 'web']).code, 0);
    await waitPhase(d, second.id, ['promoted', 'retired']);
    assert.equal(replicasOf(v2), 3, 'three replicas of the new version run after the switch');
    const slot = waiting.slot as string;
    const events = (await release(d, second.id)).events as { reason: string }[];
    const scaled = events.findIndex((e) => e.reason.startsWith(`scaled ${slot} from 1 to 3 replicas before the switch`));
    assert.ok(scaled >= 0, events.map((e) => e.reason).join('\n'));
    const switched = events.findIndex((e) => e.reason.endsWith(`all traffic to version ${v2}`));
    assert.ok(switched > scaled, 'the scale-up is done, every replica healthy, before traffic moves');
    const parity = events.find((e) => e.reason.startsWith(`parity, switching to ${slot}`));
    assert.ok(
      parity !== undefined && !parity.reason.includes('the provider sees'),
      `previewing on one replica is no drift: ${parity?.reason}`,
    );
    await waitFor('every answer from the new version', async () => ((await served(s.port)).version === v2 ? true : undefined), 10_000);
  } finally {
    await d.stop();
    cleanup(s);
  }
});
