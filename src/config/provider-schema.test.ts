import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { parseConfig } from './load.ts';

const FILE = '/srv/app/cutover.yaml';
const web = (provider: string) => `services:
  web:
    listen: 127.0.0.1:8080
    provider: ${provider}
`;

function problems(text: string): { path: string; message: string }[] {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  return [];
}

test('static provider hooks, accepted once and never run, are refused by validate with what to do instead', () => {
  const found = problems(web('{ kind: static, blue: [127.0.0.1:3001], hooks: { start: ./start.sh } }'));
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.equal(found[0]?.path, 'services.web.provider.hooks');
  assert.match(found[0]?.message ?? '', /not run by cutover.*remove provider\.hooks/);
});

test('a static provider without hooks still validates, and its config carries no hooks key', () => {
  const config = parseConfig(web('{ kind: static, blue: [127.0.0.1:3001] }'), FILE);
  assert.deepEqual(config.services.web?.provider, { kind: 'static', blue: ['127.0.0.1:3001'], green: [] });
});

test('previewReplicas above replicas or below 1 is refused by validate, naming the key; within them it is kept', () => {
  const over = problems(web('{ command: node app.js, replicas: 2, previewReplicas: 3 }'));
  assert.equal(over.length, 1, JSON.stringify(over));
  assert.equal(over[0]?.path, 'services.web.provider.previewReplicas');
  assert.match(over[0]?.message ?? '', /previewReplicas \(3\) is over provider\.replicas \(2\)/);
  const zero = problems(web('{ kind: kubernetes, image: "r/web:{version}", port: 8080, replicas: 3, previewReplicas: 0 }'));
  assert.equal(zero.length, 1, JSON.stringify(zero));
  assert.equal(zero[0]?.path, 'services.web.provider.previewReplicas');
  const defaultReplicas = problems(web('{ command: node app.js, previewReplicas: 2 }'));
  assert.equal(defaultReplicas[0]?.path, 'services.web.provider.previewReplicas', 'replicas defaults to 1');
  assert.equal(problems(web('{ kind: static, blue: [127.0.0.1:3001], previewReplicas: 1 }')).length, 1, 'static runs nothing to scale');
  const ok = parseConfig(web('{ command: node app.js, replicas: 3, previewReplicas: 1 }'), FILE);
  assert.equal(ok.services.web?.provider.kind === 'process' && ok.services.web.provider.previewReplicas, 1);
});
