// The config examples of the README's Configuration section mean what they say: each (a complete
// file) passes the same validation as `cutover validate`.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.ts';
import { ConfigError } from '../src/errors.ts';
import { ROOT } from './helpers.ts';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const SECTION = README.slice(README.indexOf('## Configuration'), README.indexOf('\n## ', README.indexOf('## Configuration') + 5));
const blocks = [...SECTION.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => /^services:/m.test(b));

test("every config example of the README's Configuration section validates", () => {
  assert.ok(blocks.length >= 3, `found ${blocks.length} examples`);
  for (const block of blocks) {
    try {
      parseConfig(block, join(ROOT, 'cutover.yaml'));
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems.map((p) => `${p.path}: ${p.message}`).join('\n') : String(err);
      assert.fail(`this README example does not validate:\n${block}\n${problems}`);
    }
  }
});
