// Reads cutover.yaml into a Config, or throws one ConfigError that names every problem by its path.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isCollection, isMap, isScalar, LineCounter, parseDocument, type Document, type YAMLError } from 'yaml';
import { ConfigError, CutoverError, type ConfigProblem } from '../errors.ts';
import { issueMessage, toProblems, type Locate } from './problems.ts';
import { configSchema, NO_SERVICES } from './schema.ts';
import type { Config } from './types.ts';

/** Reads and validates a config file; relative paths in it resolve against its folder. */
export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw unreadable(file, err);
  }
  return parseConfig(text, file);
}

/** Validates config text; `file` names it in messages and anchors its relative paths. */
export function parseConfig(text: string, file: string): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => yamlProblem(e, lineCounter)),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new ConfigError(file, [{ path: '(file)', message: `cannot expand the YAML (${(err as Error).message}); use fewer aliases` }], {
      cause: err,
    });
  }
  if (data === null || data === undefined) {
    throw new ConfigError(file, [{ path: '(file)', message: `the file is empty; ${NO_SERVICES}` }]);
  }
  if (typeof data !== 'object' || Array.isArray(data)) {
    const got = Array.isArray(data) ? 'a list' : `${typeof data} ${JSON.stringify(data)}`;
    throw new ConfigError(file, [{ path: '(file)', message: `expected a mapping with services: at the top, got ${got}` }]);
  }
  const result = configSchema(file).safeParse(data, { error: issueMessage });
  if (!result.success) {
    throw new ConfigError(file, toProblems(result.error.issues, locator(doc, lineCounter)), { cause: result.error });
  }
  return result.data;
}

function unreadable(file: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const abs = path.resolve(file);
  if (code === 'ENOENT') {
    const where = abs === file ? '' : ` (looked for ${abs})`;
    return new CutoverError(
      'CUTOVER_E_CONFIG_NOT_FOUND',
      `config file ${file} not found${where}; pass the right one with -c FILE, or create it (examples/design.cutover.yaml is a complete example)`,
      404,
      { cause: err },
    );
  }
  if (code === 'EISDIR') {
    return new CutoverError(
      'CUTOVER_E_CONFIG_NOT_FOUND',
      `${file} is a folder, not a config file; pass the file, like -c ${path.join(file, 'cutover.yaml')}`,
      404,
      { cause: err },
    );
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new CutoverError(
      'CUTOVER_E_CONFIG_NOT_FOUND',
      `cannot read config file ${abs}: permission denied; make it readable by this user`,
      404,
      { cause: err },
    );
  }
  return err instanceof Error ? err : new Error(String(err));
}

const YAML_HINTS: Partial<Record<YAMLError['code'], string>> = {
  DUPLICATE_KEY: 'this key appears twice in the same mapping; keep one',
  TAB_AS_INDENT: 'indent with spaces, not tabs',
};

function yamlProblem(e: YAMLError, lines: LineCounter): ConfigProblem {
  const at = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
  const where = `line ${at.line}:${at.col}`;
  if (e.code === 'MULTIPLE_DOCS') {
    return { path: where, message: 'the file holds more than one YAML document (a second ---); keep one' };
  }
  const hint = YAML_HINTS[e.code] ?? 'fix the YAML syntax here (check indentation, colons and quotes)';
  return { path: where, message: `${e.message.replace(/[.:]?\s*$/, '')}; ${hint}` };
}

/** Finds where a path is in the YAML source, falling back to its nearest parent that is there. */
function locator(doc: Document, lines: LineCounter): Locate {
  const position = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };
  const keyPosition = (p: readonly PropertyKey[]) => {
    const parent = p.length === 1 ? doc.contents : doc.getIn(p.slice(0, -1), true);
    const key = p[p.length - 1];
    if (!isMap(parent)) return undefined;
    const pair = parent.items.find((it) => (isScalar(it.key) ? it.key.value === key : it.key === key));
    return isScalar(pair?.key) && pair.key.range ? position(pair.key.range[0]) : undefined;
  };
  return (p, isKey) => {
    if (isKey && p.length > 0) {
      const at = keyPosition(p);
      if (at) return at;
    }
    for (let n = p.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(p.slice(0, n), true);
      if (isScalar(node) && node.range) return position(node.range[0]);
      // A whole mapping or list is named where its key is written, not where its first item starts.
      if (isCollection(node)) return (n > 0 ? keyPosition(p.slice(0, n)) : undefined) ?? (node.range ? position(node.range[0]) : undefined);
    }
    return undefined;
  };
}
