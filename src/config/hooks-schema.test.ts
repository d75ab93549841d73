import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { parseConfig } from './load.ts';

const FILE = '/srv/app/cutover.yaml';
const web = (hooks: string) => `services:
  web:
    listen: 127.0.0.1:8080
    provider: { command: node app.js }
    hooks: ${hooks}
`;

test('a hook is a command string, a { run } or a { url }, one or a list, with default timeouts', () => {
  const config = parseConfig(
    web('{ beforeSwitch: ./check.sh, afterSwitch: [{ run: ./tell.sh, timeout: 30s }, { url: "https://deploys.example.com/hook" }] }'),
    FILE,
  );
  assert.deepEqual(config.services.web?.hooks, {
    beforeSwitch: [{ kind: 'command', run: './check.sh', timeout: 300_000 }],
    afterSwitch: [
      { kind: 'command', run: './tell.sh', timeout: 30_000 },
      { kind: 'webhook', url: 'https://deploys.example.com/hook', headers: {}, timeout: 10_000 },
    ],
  });
});

test('an unknown hook point and a hook with neither run nor url are refused, naming the points there are', () => {
  for (const [hooks, path, message] of [
    ['{ beforeDeploy: ./x.sh }', 'services.web.hooks', /beforeDeploy/],
    ['{ onRollback: { command: ./x.sh } }', 'services.web.hooks.onRollback', /run \(a command\) or url \(a webhook\)/],
  ] as const) {
    try {
      parseConfig(web(hooks), FILE);
      assert.fail(`expected ${hooks} to be refused`);
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      const found = err.problems.find((p) => p.path.startsWith(path));
      assert.ok(found, JSON.stringify(err.problems));
      assert.match(err.problems.map((p) => p.message).join('\n'), message);
    }
  }
});
