// The controller SIGKILLed at every step boundary of a rollback (issue 11), aimed with the test hook
// CUTOVER_TEST_KILL_AT (src/controller/kill-points.ts) so each boundary is hit on every run:
//   rollback:start     about to record rolled-back (nothing recorded yet)
//   rollback:recorded  rolled-back recorded, traffic not yet switched back
//   rollback:switched  traffic switched back, hooks and log not yet told
// After the restart: the release is rolled back, every user answer comes from the good version, the
// rejected slot runs what status says it runs (nothing, once a restart forgot it), nothing is stuck.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { waitFor } from './helpers.ts';
import { cleanup, deploy, type Running, startUp, waitPhase } from './lifecycle-helpers.ts';
import { RELEASE_APP, releaseSetup } from './release-helpers.ts';

// In this order, so the daemon started after each kill can carry the next point: resuming a rollback
// killed at `recorded` or `switched` passes no kill point, and `start` (retried after it) comes last.
export const KILL_POINTS = ['rollback:recorded', 'rollback:switched', 'rollback:start'] as const;
const ENDED = ['retired', 'failed', 'aborted', 'rolled-back'];

/** Live release-app processes of this run, by version. */
function replicas(tag: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat[stat.lastIndexOf(')') + 2] === 'Z') continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!cmd.includes(RELEASE_APP) || !readFileSync(`/proc/${pid}/environ`, 'utf8').includes(`KILL_TAG=${tag}`)) continue;
      const version = cmd[cmd.indexOf(RELEASE_APP) + 1] ?? '';
      out.set(version, (out.get(version) ?? 0) + 1);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** A few clients asking for / until stopped (a refused connection waits a little); versions that answered 200. */
function users(port: number): { stop(): Promise<void> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 3 });
  let stopping = false;
  const one = (): Promise<boolean> =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent, timeout: 5000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(true));
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', () => resolve(false));
    });
  const loops = Array.from({ length: 3 }, async () => {
    while (!stopping) if (!(await one())) await new Promise((r) => setTimeout(r, 50));
  });
  return {
    stop: async () => {
      stopping = true;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

/** The version that answers GET / now. */
async function answer(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  return res.status === 200 ? (JSON.parse(text) as { version: string }).version : `${res.status} ${text.trim()}`;
}

/**
 * For each kill point: a release of a version that is rolled back (`operator`: by POST /rollback once
 * promoted; `analysis`: bad500 fails its analysis under load), the controller dying at that point.
 */
export async function killEveryRollbackStep(kind: 'operator' | 'analysis'): Promise<void> {
  const tag = `rk-${kind}-${process.pid}`;
  const s = await releaseSetup({
    provider: {
      kind: 'process',
      command: [process.execPath, RELEASE_APP, '{version}'],
      replicas: 1,
      stopGrace: '1s',
      env: { KILL_TAG: tag },
    },
    analysis: { interval: '250ms', window: kind === 'analysis' ? '10s' : '500ms', minSamples: 5, failureLimit: 2, inconclusive: 'pass' },
    standby: '10m',
  });
  const aim = (i: number): Record<string, string> => (i < KILL_POINTS.length ? { CUTOVER_TEST_KILL_AT: KILL_POINTS[i]! } : {});
  let d: Running = await startUp(s, undefined, aim(0));
  const load = users(s.port);
  const good = 'g1';
  try {
    await waitPhase(d, (await deploy(d, good)).id, ['retired', 'promoted']);
    for (const [i, point] of KILL_POINTS.entries()) {
      const version = kind === 'operator' ? `o${i}` : 'bad500';
      const rel = await deploy(d, version);
      const what = `${kind} rollback killed at ${point}`;
      if (kind === 'operator') {
        await waitPhase(d, rel.id, ['promoted'], 45_000);
        // The answer never comes: the controller dies on the way.
        await d.api('POST', '/api/v1/services/web/rollback', { reason: `test: ${point}` }).catch(() => {});
      }
      assert.equal(await d.exited(60_000), 'SIGKILL', `${what}: the controller died at the kill point`);
      d = await startUp(s, undefined, aim(i + 1));
      if (kind === 'operator' && point === 'rollback:start') {
        // Nothing was recorded, so nothing happened: the operator, who got no answer, asks again.
        assert.equal((await d.api('GET', `/api/v1/services/web/releases/${rel.id}`)).json.phase, 'promoted', `${what}: not recorded`);
        await waitFor(
          `${what}: the standby to be healthy again`,
          async () =>
            (await d.api('GET', '/api/v1/services/web')).json.slots[rel.fromSlot].targets.some((t: any) => t.healthy) ? true : undefined,
          30_000,
        );
        const again = await d.api('POST', '/api/v1/services/web/rollback', { reason: 'test: again' });
        assert.equal(again.status, 200, JSON.stringify(again.json));
      }
      const end = await waitFor(
        `${what}: the release to end`,
        async () => {
          const r = (await d.api('GET', `/api/v1/services/web/releases/${rel.id}`)).json;
          return ENDED.includes(r.phase) ? r : undefined;
        },
        60_000,
      );
      assert.equal(end.phase, 'rolled-back', `${what}: ${end.reason}`);
      const st = await waitFor(
        `${what}: all traffic on the good slot`,
        async () => {
          const x = (await d.api('GET', '/api/v1/services/web')).json;
          // Healthy too: the process provider's replicas die with the controller and start again after it.
          const slot = x.slots[rel.fromSlot];
          return x.live === rel.fromSlot &&
            x.weights[rel.fromSlot] === 100 &&
            slot.targets.length > 0 &&
            slot.targets.every((t: any) => t.healthy)
            ? x
            : undefined;
        },
        60_000,
      );
      assert.equal(st.slots[rel.fromSlot].version, good, `${what}: the good version is live`);
      assert.equal(st.release.phase, 'rolled-back', `${what}: nothing is left active`);
      for (let n = 0; n < 10; n++)
        assert.equal(await answer(s.port), good, `${what}: users get the good version\n${d.output().slice(-6000)}`);
      // The rejected slot runs exactly what status says it runs.
      await waitFor(
        `${what}: the rejected slot runs what status says`,
        async () => {
          const x = (await d.api('GET', '/api/v1/services/web')).json;
          const said = x.slots[rel.slot].version === version ? 1 : 0;
          return (replicas(tag).get(version) ?? 0) === said ? true : undefined;
        },
        20_000,
      );
    }
    // Nothing is stuck: a release after all that goes through.
    const next = await deploy(d, 'g9');
    await waitPhase(d, next.id, ['promoted'], 60_000);
  } finally {
    await load.stop();
    await d.stop();
    cleanup(s);
  }
}
