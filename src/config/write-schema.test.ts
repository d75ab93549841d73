import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
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
