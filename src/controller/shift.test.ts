// The small decisions of shifting and verifying, without processes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resumeStep, stepWeights } from './shift.ts';
import { listenUrl, newPreviewToken } from './verify.ts';

test('a step gives its share to the new slot and the rest to the old one', () => {
  assert.deepEqual(stepWeights('blue', 'green', 25), { blue: 75, green: 25 });
  assert.deepEqual(stepWeights('green', 'blue', 50), { blue: 50, green: 50 });
});

test('a shift starts at its first step, and a resumed one at the step it was in', () => {
  const steps = [10, 50];
  assert.equal(resumeStep(steps, 0), 0);
  assert.equal(resumeStep(steps, 10), 0);
  assert.equal(resumeStep(steps, 50), 1);
  assert.equal(resumeStep(steps, 30), 1, 'a share between steps goes on with the next one');
  assert.equal(resumeStep(steps, 80), -1, 'only 100% is left');
});

test('gates reach a wildcard listener on loopback', () => {
  assert.equal(listenUrl('0.0.0.0:8080'), 'http://127.0.0.1:8080');
  assert.equal(listenUrl('[::]:8080'), 'http://127.0.0.1:8080');
  assert.equal(listenUrl('127.0.0.1:9'), 'http://127.0.0.1:9');
  assert.equal(listenUrl('[::1]:9'), 'http://[::1]:9');
});

test('preview tokens are long, URL-safe and never repeat', () => {
  const a = newPreviewToken();
  assert.match(a, /^[A-Za-z0-9_-]{32}$/);
  assert.notEqual(a, newPreviewToken());
});
