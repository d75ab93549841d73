import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ADDRESS_HELP, DURATION_HELP } from './fields.ts';
import { renderSchema, SCHEMA_FILE } from './write-schema.ts';

test('the committed JSON Schema matches the config schema (run `npm run schema` when this fails)', () => {
  assert.equal(readFileSync(SCHEMA_FILE, 'utf8'), renderSchema(), `${SCHEMA_FILE} is stale; run \`npm run schema\` and commit it`);
});

test('the JSON Schema shows editors what is written, not what is read', () => {
  const schema = JSON.parse(renderSchema());
  assert.equal(schema.additionalProperties, false);
  assert.deepEqual(schema.required, ['services']);
  const service = schema.properties.services.additionalProperties;
  assert.equal(service.additionalProperties, false);
  assert.equal(service.properties.drain.type, 'string');
  assert.equal(service.properties.drain.default, '30s');
  assert.match('1m30s', new RegExp(service.properties.drain.pattern));
  assert.doesNotMatch('30', new RegExp(service.properties.drain.pattern));
  assert.match('[::1]:8080', new RegExp(service.properties.listen.pattern));
  assert.equal(schema.properties.services.propertyNames.pattern, '^[a-z][a-z0-9-]{0,62}$');
});

/** Every property of the JSON Schema, with its dotted path (`services.*.health.path`, `gates[].http`). */
function properties(node: unknown, at: string, out: { path: string; schema: Record<string, unknown> }[] = []) {
  if (node === null || typeof node !== 'object') return out;
  const n = node as Record<string, unknown>;
  for (const [key, value] of Object.entries((n.properties ?? {}) as Record<string, Record<string, unknown>>)) {
    const p = at === '' ? key : `${at}.${key}`;
    out.push({ path: p, schema: value });
    properties(value, p, out);
  }
  if (n.items !== undefined) properties(n.items, `${at}[]`, out);
  if (typeof n.additionalProperties === 'object') properties(n.additionalProperties, `${at}.*`, out);
  for (const branch of [n.anyOf, n.oneOf, n.allOf]) if (Array.isArray(branch)) for (const b of branch) properties(b, at, out);
  return out;
}

test('every key of cutover.yaml says in the JSON Schema what it does, and its default where it has one', () => {
  const all = properties(JSON.parse(renderSchema()), '');
  assert.ok(all.length > 150, `expected the whole schema to be walked, found ${all.length} keys`);
  // A duration or an address alone says only how to write one, not what the key is for.
  const undescribed = all
    .filter(({ schema }) => typeof schema.description !== 'string' || [DURATION_HELP, ADDRESS_HELP].includes(schema.description))
    .map((p) => p.path);
  assert.deepEqual(
    undescribed,
    [],
    `these keys have no description of their own (add .describe() in src/config/*-schema.ts): ${undescribed.join(', ')}`,
  );
  const silentDefault = all
    .filter(({ schema }) => ['string', 'number', 'boolean'].includes(typeof schema.default))
    .filter(({ schema }) => !String(schema.description).includes(String(schema.default)))
    .map((p) => `${p.path} (default ${JSON.stringify(p.schema.default)})`);
  assert.deepEqual(silentDefault, [], `these keys' descriptions do not name their default: ${silentDefault.join(', ')}`);
});
