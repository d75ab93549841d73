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
