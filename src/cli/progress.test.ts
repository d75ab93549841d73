import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ReleaseStatus } from '../api/types.ts';
import { checklist, styles } from './progress.ts';

const plain = { ok: (s: string) => s, bad: (s: string) => s, dim: (s: string) => s };
const t0 = Date.parse('2026-11-22T10:00:00Z');
const at = (s: number) => new Date(t0 + s * 1000).toISOString();

function release(phase: string, events: [string, number][], reason = ''): ReleaseStatus {
  return {
    id: 'rel_1',
    version: 'v2',
    phase,
    slot: 'green',
    fromSlot: 'blue',
    reason,
    createdAt: at(0),
    updatedAt: at(0),
    data: {},
    events: events.map(([p, s], i) => ({
      seq: i + 1,
      time: at(s),
      service: 'web',
      releaseId: 'rel_1',
      type: 'phase',
      phase: p,
      actor: 'controller',
      reason: '',
      data: {},
    })),
    preview: null,
    gates: [],
    analysis: [],
  } as unknown as ReleaseStatus;
}

test('a running release shows done phases with their times, a spinner on the running one, and what is still to come', () => {
  const lines = checklist(
    release(
      'verifying',
      [
        ['pending', 0],
        ['provisioning', 0.5],
        ['verifying', 2],
      ],
      'waiting until its targets are healthy',
    ),
    t0 + 3500,
    0,
    plain,
  );
  assert.match(lines[0]!, /✔ pending\s+0\.5s/);
  assert.match(lines[1]!, /✔ provisioning\s+1\.5s/);
  assert.match(lines[2]!, /⠋ verifying\s+1\.5s {2}waiting until its targets are healthy/);
  assert.match(lines[3]!, /^\s+shifting\s*$/);
  assert.ok(!lines.some((l) => l.includes('awaiting-approval')), 'approval is listed only when the release waits for it');
  assert.match(lines.at(-1)!, /3\.5s since the release started/);
});

test('a failed release ends with a cross on the phase that ended it and no phases it never reached', () => {
  const lines = checklist(
    release(
      'failed',
      [
        ['pending', 0],
        ['provisioning', 0.1],
        ['failed', 0.4],
      ],
      'replica 0 exited',
    ),
    t0 + 5000,
    3,
    plain,
  );
  assert.deepEqual(
    lines.slice(0, 3).map((l) => l.trim().split(/\s+/).slice(0, 2).join(' ')),
    ['✔ pending', '✔ provisioning', '✖ failed'],
  );
  assert.ok(!lines.some((l) => /shifting|observing|promoted/.test(l)));
});

test('colours are off when NO_COLOR is set or the output is not a terminal', () => {
  const tty = { isTTY: true, hasColors: () => true } as unknown as NodeJS.WriteStream;
  const before = process.env.NO_COLOR;
  process.env.NO_COLOR = '1';
  assert.equal(styles(tty).ok('x'), 'x');
  delete process.env.NO_COLOR;
  assert.equal(styles(tty).ok('x'), '\x1b[32mx\x1b[0m');
  assert.equal(styles({ isTTY: false } as unknown as NodeJS.WriteStream).ok('x'), 'x');
  if (before !== undefined) process.env.NO_COLOR = before;
});
