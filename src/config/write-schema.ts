// `npm run schema`: writes schema/cutover.schema.json, the JSON Schema editors use to check and complete
// cutover.yaml. It describes what may be written (durations as strings), not what cutover reads.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configSchema } from './schema.ts';

export const SCHEMA_FILE = fileURLToPath(new URL('../../schema/cutover.schema.json', import.meta.url));

/** The JSON Schema as committed: stable text, so a stale copy shows up as a diff. */
export function renderSchema(): string {
  const schema = z.toJSONSchema(configSchema('cutover.yaml'), { io: 'input', target: 'draft-2020-12' });
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (import.meta.main) {
  writeFileSync(SCHEMA_FILE, renderSchema());
  process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
}
