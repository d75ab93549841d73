import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { lastLines, slotLogPath, tailServiceLogs, tailSlotLog } from './logs.ts';
import { SlotLog } from './slot-log.ts';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cutover-slotlog-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('lines are prefixed with time, replica and stream, and nothing is written after close', () =>
  withDir(async (dir) => {
    const log = new SlotLog(slotLogPath(dir, 'web', 'blue'));
    log.write(1, 'err', ['boom']);
    log.write(-1, 'cutover', ['stopping']);
    log.close();
    log.write(0, 'out', ['stray output after the slot was stopped']);
    const text = await readFile(join(dir, 'logs', 'web', 'blue.log'), 'utf8');
    assert.match(text, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[1 err\] boom\n\S+ \[cutover\] stopping\n$/);
  }));

test('the log rotates at its size, keeps only its number of files, and tail reads across them', () =>
  withDir(async (dir) => {
    const path = slotLogPath(dir, 'web', 'green');
    const log = new SlotLog(path, { maxBytes: 1000, files: 3 });
    for (let i = 1; i <= 200; i++) log.write(0, 'out', [`line ${i}`]);
    log.close();
    assert.deepEqual((await readdir(join(dir, 'logs', 'web'))).sort(), ['green.log', 'green.log.1', 'green.log.2']);
    for (const f of ['green.log', 'green.log.1', 'green.log.2']) {
      assert.ok((await stat(join(dir, 'logs', 'web', f))).size <= 1000, `${f} is within maxBytes`);
    }
    // A burst bigger than a file is spread over files too.
    const burst = new SlotLog(slotLogPath(dir, 'web', 'blue'), { maxBytes: 1000, files: 2 });
    burst.write(
      0,
      'out',
      Array.from({ length: 100 }, (_, i) => `burst ${i + 1}`),
    );
    burst.close();
    const older = (await stat(join(dir, 'logs', 'web', 'blue.log.1'))).size;
    assert.ok(older <= 1000 && older > 900, `the older file was filled up to maxBytes: ${older}`);
    assert.ok((await stat(join(dir, 'logs', 'web', 'blue.log'))).size <= 1000);
    assert.match((await tailSlotLog(dir, 'web', 'blue', 1))[0] ?? '', / burst 100$/);

    const lines = await tailSlotLog(dir, 'web', 'green', 3);
    assert.deepEqual(
      lines.map((l) => l.split(' ').slice(3).join(' ')),
      ['line 198', 'line 199', 'line 200'],
    );
    // More lines than the current file has: the older files supply the rest, in order.
    const current = (await readFile(path, 'utf8')).trimEnd().split('\n').length;
    const many = await tailSlotLog(dir, 'web', 'green', current + 5);
    assert.equal(many.length, current + 5);
    assert.equal(many.at(-1)?.endsWith('line 200'), true);
    assert.equal(many[0]?.endsWith(`line ${200 - current - 4}`), true);
  }));

test('lastLines reads long files from their end, and a missing log has no lines', () =>
  withDir(async (dir) => {
    const log = new SlotLog(join(dir, 'big.log'), { maxBytes: 10 * 1024 * 1024 });
    for (let i = 1; i <= 20_000; i++) log.write(0, 'out', [`entry ${i} ${'x'.repeat(20)}`]);
    log.close();
    const last = await lastLines(join(dir, 'big.log'), 2);
    assert.match(last[0] ?? '', /entry 19999 x+$/);
    assert.match(last[1] ?? '', /entry 20000 x+$/);
    assert.deepEqual(await tailSlotLog(dir, 'nothing', 'blue', 10), []);
  }));

test('the logs of both slots merge in time order, each line naming its slot', () =>
  withDir(async (dir) => {
    const blue = new SlotLog(slotLogPath(dir, 'web', 'blue'));
    const green = new SlotLog(slotLogPath(dir, 'web', 'green'));
    blue.write(0, 'out', ['first']);
    await new Promise((r) => setTimeout(r, 5));
    green.write(0, 'out', ['second']);
    await new Promise((r) => setTimeout(r, 5));
    blue.write(0, 'out', ['third']);
    blue.close();
    green.close();
    const lines = await tailServiceLogs(dir, 'web', { lines: 10 });
    assert.deepEqual(
      lines.map((l) => `${l.split(' ')[0]} ${l.split(' ').at(-1)}`),
      ['blue first', 'green second', 'blue third'],
    );
    assert.deepEqual(
      (await tailServiceLogs(dir, 'web', { slot: 'green' })).map((l) => l.split(' ').at(-1)),
      ['second'],
    );
  }));
