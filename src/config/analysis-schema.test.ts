import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { parseConfig } from './load.ts';

const FILE = '/srv/app/cutover.yaml';
const config = (rules: string) => `services:
  web:
    listen: 127.0.0.1:8080
    provider: { command: node app.js }
    analysis:
      rules:
${rules}`;

function refusal(text: string): { path: string; message: string }[] {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => ({ path: p.path, message: p.message }));
  }
  assert.fail('the config was accepted');
}

test('a web rule is read with its defaults, and dryRun on any rule', () => {
  const c = parseConfig(
    config(`        - { metric: web, url: 'https://api.datadoghq.com/api/v1/query?query=x{{slot}}', headers: { DD-API-KEY: '\${DD_API_KEY}' }, jsonPath: '$.series[0].pointlist[-1][1]', max: 0.01 }
        - { metric: p99, max: 300ms, dryRun: true }
`),
    FILE,
  );
  assert.deepEqual(c.services.web?.analysis.rules, [
    {
      metric: 'web',
      url: 'https://api.datadoghq.com/api/v1/query?query=x{{slot}}',
      method: 'GET',
      headers: { 'DD-API-KEY': '${DD_API_KEY}' },
      jsonPath: '$.series[0].pointlist[-1][1]',
      timeout: 5000,
      max: 0.01,
    },
    { metric: 'p99', max: 300, dryRun: true },
  ]);
});

test('a web rule whose jsonPath is not a JSONPath, or whose url is not http(s), is refused where it is written', () => {
  const bad = refusal(config("        - { metric: web, url: 'ftp://x/q', jsonPath: 'series[0]', max: 1 }\n"));
  assert.ok(
    bad.some((p) => p.path === 'services.web.analysis.rules[0].url' && /http\(s\) URL/.test(p.message)),
    JSON.stringify(bad),
  );
  assert.ok(
    bad.some((p) => p.path === 'services.web.analysis.rules[0].jsonPath' && /starts with \$/.test(p.message)),
    JSON.stringify(bad),
  );
  const broken = refusal(config("        - { metric: web, url: 'http://x/q', jsonPath: '$.a[', max: 1 }\n"));
  assert.match(broken[0]?.message ?? '', /is not a JSONPath \(RFC 9535\)/);
});

test('a web rule needs a bound like any rule', () => {
  const p = refusal(config("        - { metric: web, url: 'http://x/q', jsonPath: '$.v' }\n"));
  assert.match(p[0]?.message ?? '', /needs a bound: .*\{ metric: web, max: 1 \}/);
});
