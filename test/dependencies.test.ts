// What `npm install cutover` brings: every runtime dependency is used by the shipped code (src/ and
// bin/, tests aside); a package only tests use is a devDependency.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers.ts';

function shippedFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })) {
    const path = join(e.parentPath, e.name);
    if (e.isFile() && /\.(ts|js|mjs)$/.test(e.name) && !/\.test\.ts$/.test(e.name)) out.push(path);
  }
  return out;
}

/** The package a bare import specifier names (`@scope/name/x` -> `@scope/name`). */
function packageOf(specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('node:') || specifier.startsWith('/')) return null;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? null);
}

test('every runtime dependency is imported by src/ or bin/; test-only packages are devDependencies', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const used = new Set<string>();
  for (const file of [...shippedFiles('src'), ...shippedFiles('bin')]) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      const name = packageOf(m[1]!);
      if (name !== null) used.add(name);
    }
  }
  const unused = Object.keys(pkg.dependencies ?? {}).filter((d) => !used.has(d));
  assert.deepEqual(unused, [], `only tests use ${unused.join(', ')}: move ${unused.length === 1 ? 'it' : 'them'} to devDependencies`);
});
