// A bounded chaos run: releases in a row, good ones and ones that fail their gates, with the daemon
// SIGKILLed at a random phase of each and started again. Whatever the kill hits, users are never
// answered by a version that failed its gates, every release ends (none is left stuck), and no
// replica is left over. Seeded: the seed is printed, and CHAOS_SEED=<n> replays a run.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { test } from 'node:test';
import { waitFor } from './helpers.ts';
import { cleanup, deploy, type Running, startUp } from './lifecycle-helpers.ts';
import { RELEASE_APP, releaseSetup } from './release-helpers.ts';

// A fixed seed by default, so `npm test` is repeatable; CHAOS_SEED=<n> replays a run, CHAOS_SEED=random
// explores. Seed 1420080023 kills the daemon while a failed release (which had reused the standby's
// slot) cleans up; test/release-end-kill.test.ts hits that moment on purpose.
const SEED = process.env.CHAOS_SEED === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.CHAOS_SEED ?? 1892390769);
const ROUNDS = Number(process.env.CHAOS_ROUNDS ?? 4);
/** The order a release goes through; a kill is aimed at one of these. */
const PHASES = ['pending', 'provisioning', 'verifying', 'shifting', 'observing', 'promoted'];
const ENDED = ['promoted', 'retired', 'failed', 'aborted', 'rolled-back'];
/** The version of the release app whose smoke test fails (GET /ready answers 503). */
const FAILS_GATES = 'smokefail';

/** mulberry32: a small seeded generator, so a failing run can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Live release-app processes of a run, by version (zombies run nothing). */
function replicas(tag: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat[stat.lastIndexOf(')') + 2] === 'Z') continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (!cmd.includes(RELEASE_APP) || !env.includes(`CHAOS_TAG=${tag}`)) continue;
      const version = cmd[cmd.indexOf(RELEASE_APP) + 1] ?? '';
      out.set(version, (out.get(version) ?? 0) + 1);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Keep-alive clients recording which version answered; a refused connection (the daemon down) waits a little. */
function users(port: number, n = 3): { stop(): Promise<{ versions: Map<string, number>; failed: number }> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: n });
  const versions = new Map<string, number>();
  let failed = 0;
  let stopping = false;
  const one = (): Promise<boolean> =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent, timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          if (res.statusCode === 200) {
            const v = (JSON.parse(body) as { version: string }).version;
            versions.set(v, (versions.get(v) ?? 0) + 1);
            resolve(true);
          } else {
            failed++;
            resolve(false);
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', () => {
        failed++;
        resolve(false);
      });
    });
  const loops = Array.from({ length: n }, async () => {
    while (!stopping) if (!(await one())) await new Promise((r) => setTimeout(r, 50));
  });
  return {
    stop: async () => {
      stopping = true;
      await Promise.all(loops);
      agent.destroy();
      return { versions, failed };
    },
  };
}

async function phaseOf(d: Running, id: string): Promise<string> {
  return (await d.api('GET', `/api/v1/services/web/releases/${id}`)).json.phase as string;
}

test(`releases in a row with the daemon SIGKILLed at a random phase of each (seed ${SEED}, ${ROUNDS} rounds)`, async () => {
  process.stdout.write(`chaos seed: ${SEED} (replay with CHAOS_SEED=${SEED})\n`);
  const random = rng(SEED);
  const tag = `chaos-${SEED}-${process.pid}`;
  const s = await releaseSetup({
    provider: {
      kind: 'process',
      command: [process.execPath, RELEASE_APP, '{version}'],
      replicas: 1,
      stopGrace: '1s',
      env: { CHAOS_TAG: tag },
    },
    gates: [{ http: { requests: [{ path: '/ready', expect: { status: 200 } }], timeout: '10s' } }],
    standby: '1h',
  });
  let d = await startUp(s, 45_000);
  const log: string[] = [];
  let load: ReturnType<typeof users> | null = null;
  try {
    const first = await deploy(d, 'g0');
    await waitFor('g0 live', async () => (ENDED.includes(await phaseOf(d, first.id)) ? true : undefined), 60_000);
    load = users(s.port);
    const failedVersions = new Set<string>();
    for (let round = 1; round <= ROUNDS; round++) {
      const version = random() < 0.4 ? FAILS_GATES : `g${round}`;
      const target = PHASES[Math.floor(random() * PHASES.length)]!;
      const rel = await deploy(d, version);
      // Kill once the release is at the aimed phase or past it (a failing one may end before).
      const at = await waitFor(
        `${version} to reach ${target}`,
        async () => {
          const p = await phaseOf(d, rel.id);
          return PHASES.indexOf(p) >= PHASES.indexOf(target) || ENDED.includes(p) ? p : undefined;
        },
        60_000,
      );
      await d.stop('SIGKILL');
      d = await startUp(s, 45_000);
      const end = await waitFor(
        `release ${rel.id} (${version}) to end after the kill in ${at}`,
        async () => {
          const p = await phaseOf(d, rel.id);
          return ENDED.includes(p) ? p : undefined;
        },
        90_000,
      );
      log.push(`round ${round}: ${version}, killed in ${at} (aimed at ${target}), ended ${end}`);
      if (version === FAILS_GATES) {
        assert.equal(end, 'failed', `a version that fails its gates ends failed: ${log.join('; ')}`);
        failedVersions.add(version);
      } else assert.equal(end, 'promoted', `a good version is promoted: ${log.join('; ')}`);
      // Nothing of the failed version keeps running (its slot was stopped).
      await waitFor(`no replica of ${FAILS_GATES} left`, () => ((replicas(tag).get(FAILS_GATES) ?? 0) === 0 ? true : undefined), 20_000);
    }
    const seen = await load.stop();
    load = null;
    process.stdout.write(
      `${log.join('\n')}\nanswers by version: ${JSON.stringify(Object.fromEntries(seen.versions))}; failed: ${seen.failed}\n`,
    );
    for (const v of failedVersions) assert.equal(seen.versions.get(v) ?? 0, 0, `users were answered by ${v}, which failed its gates`);
    // What runs is the live slot and its standby, one replica each: nothing else is left over. Status
    // is read again on each try: a restarted daemon may still be bringing a standby back.
    const expectedNow = async () => {
      const st = (await d.api('GET', '/api/v1/services/web')).json;
      const expected = new Map<string, number>();
      for (const slot of ['blue', 'green'] as const) {
        const v = st.slots[slot].version as string | null;
        if (v !== null) expected.set(v, (expected.get(v) ?? 0) + 1);
      }
      return expected;
    };
    await waitFor(
      'exactly the live and standby replicas',
      async () => {
        const expected = await expectedNow();
        const now = replicas(tag);
        return [...now].length === [...expected].length && [...expected].every(([v, n]) => now.get(v) === n) ? true : undefined;
      },
      20_000,
    ).catch(async () => assert.deepEqual(Object.fromEntries(replicas(tag)), Object.fromEntries(await expectedNow()), 'replicas running'));
  } finally {
    await load?.stop();
    await d.stop();
    cleanup(s);
  }
  await waitFor('no replica after the daemon stopped', () => (replicas(tag).size === 0 ? true : undefined), 20_000);
});
