import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SlotSpec } from '../providers/types.ts';
import { compareSpecs, parityRefusal, paritySummary, type ParityReport } from './parity.ts';

const spec = (over: Partial<SlotSpec> = {}): SlotSpec => ({
  command: ['node', 'app.js', '{version}'],
  envNames: ['API_KEY', 'PORT'],
  replicas: 2,
  configHash: 'abc123',
  view: { running: 2, detail: '2 of 2 replica(s) running', envNames: ['API_KEY', 'HOME', 'PORT'] },
  ...over,
});

test('two slots provisioned alike differ in nothing but their version', () => {
  assert.deepEqual(compareSpecs(spec(), spec()), []);
});

test('every kind of drift is named slot by slot, variables by name only', () => {
  const green = spec({
    command: ['node', 'server.js', '{version}'],
    envNames: ['PORT', 'FEATURE_X'],
    replicas: 3,
    configHash: 'def456',
    view: { running: 1, detail: '1 of 3 replica(s) running', envNames: ['HOME', 'PORT'] },
  });
  const diffs = compareSpecs(spec(), green);
  assert.deepEqual(
    diffs.map((d) => d.field),
    ['command', 'env', 'replicas', 'config', 'provider', 'env'],
  );
  assert.match(diffs[0]!.text, /blue runs \["node","app\.js","\{version\}"\], green \["node","server\.js","\{version\}"\]/);
  assert.equal(diffs[1]!.text, 'environment variables configured: only blue has API_KEY; only green has FEATURE_X');
  assert.equal(diffs[2]!.text, 'replicas: blue 2, green 3');
  assert.match(diffs[4]!.text, /^green: the provider sees 1 of 3 replica\(s\) running, not 3$/);
  assert.match(diffs[5]!.text, /running processes: only blue has API_KEY; only green has \(none\)/);
});

test('what one provider cannot know is not compared: a static slot has no command or variables', () => {
  const staticSpec = (n: number): SlotSpec => ({
    command: null,
    envNames: null,
    replicas: n,
    configHash: null,
    view: { running: n, detail: `${n} address(es)`, envNames: null },
  });
  assert.deepEqual(compareSpecs(staticSpec(2), staticSpec(2)), []);
  assert.deepEqual(
    compareSpecs(staticSpec(2), staticSpec(1)).map((d) => d.text),
    ['replicas: blue 2, green 1'],
  );
});

test('only a strict config refuses a switch on drift, with a coded error that says what to do', () => {
  const report = (strict: boolean, texts: string[]): ParityReport => ({
    service: 'web',
    checkedAt: new Date().toISOString(),
    compared: true,
    slots: { blue: { version: 'v1', spec: null }, green: { version: 'v2', spec: null } },
    differences: texts.map((text) => ({ field: 'replicas', text })),
    note: null,
    strict,
  });
  assert.equal(parityRefusal(report(false, ['replicas: blue 2, green 1']), 'green'), null);
  assert.equal(parityRefusal(report(true, []), 'green'), null);
  const err = parityRefusal(report(true, ['replicas: blue 2, green 1']), 'green');
  assert.equal(err?.code, 'CUTOVER_E_PARITY_DRIFT');
  assert.equal(err?.status, 409);
  assert.match(err!.message, /not switching to green: .*replicas: blue 2, green 1.*parity: \{ strict: false \}.*cutover parity web/);
  assert.equal(paritySummary(report(false, [])), 'blue and green differ only in their version');
});
