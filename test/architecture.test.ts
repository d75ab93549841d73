// The arrows of DESIGN's layout, held by reading the imports of src/ (type imports count: a type
// names the part it comes from). Each rule names the folder, what it must not import, and why.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers.ts';

const SRC = join(ROOT, 'src');

/** Every import specifier of every .ts file under src/<folder>/, tests beside the code included. */
function importsOf(folder: string): { file: string; specifier: string }[] {
  const out: { file: string; specifier: string }[] = [];
  for (const e of readdirSync(join(SRC, folder), { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.ts')) continue;
    const path = join(e.parentPath, e.name);
    const text = readFileSync(path, 'utf8');
    for (const m of text.matchAll(/(?:^|\s)(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      out.push({ file: relative(ROOT, path), specifier: m[1]! });
    }
  }
  return out;
}

/** The top folder of src/ a relative import from src/<folder>/ reaches, or the package it names. */
function target(file: string, specifier: string): string {
  if (!specifier.startsWith('.')) return specifier.split('/')[0] ?? specifier;
  const abs = join(ROOT, file, '..', specifier);
  return relative(SRC, abs).split('/')[0] ?? '';
}

function violations(folder: string, forbidden: string[]): string[] {
  return importsOf(folder)
    .filter((i) => forbidden.includes(target(i.file, i.specifier)))
    .map((i) => `${i.file} imports ${i.specifier}`);
}

test('the controller knows no API, CLI or dashboard: they depend on it, never the other way', () => {
  assert.deepEqual(violations('controller', ['api', 'cli', 'ui']), []);
});

test('the router imports nothing of the control plane, so it serves on when the controller, store or etcd is gone', () => {
  assert.deepEqual(violations('router', ['controller', 'store', 'api', 'fleet', 'daemon']), []);
});

test('the router imports nothing of the edge: edge/ builds on router/, never the other way', () => {
  assert.deepEqual(violations('router', ['edge']), []);
});

test("the fleet knows no controller and no etcd client: it coordinates over the store's narrow fleet link", () => {
  assert.deepEqual(violations('fleet', ['controller', 'daemon', 'etcd3']), []);
  // The scan reads imports at all: the fleet does import the link it is given.
  assert.ok(importsOf('fleet').some((i) => i.specifier === '../store/fleet-link.ts'));
});
