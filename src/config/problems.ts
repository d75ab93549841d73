// Schema issues into ConfigProblems a person can act on: named by path (`services.web.health.interval`),
// saying what to write instead, with a "did you mean" for misspelt keys and values.
import type { z } from 'zod';
import type { ConfigProblem } from '../errors.ts';
import { closest } from './suggest.ts';

type Issue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;

/** `services.web.gates[0].http`; keys that are not plain words are quoted (`headers["x.y"]`). */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$-]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out || '(file)';
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  nonoptional: 'a value',
};

/** How an input value is named in a message: `"abc"`, `the number 3`, `a list`. */
export function describe(input: unknown): string {
  if (input === null) return 'nothing (an empty value)';
  if (Array.isArray(input)) return 'a list';
  switch (typeof input) {
    case 'string':
      return JSON.stringify(input);
    case 'number':
      return `the number ${input}`;
    case 'boolean':
      return String(input);
    case 'object':
      return 'a mapping';
    default:
      return typeof input;
  }
}

const quote = (v: unknown): string => (typeof v === 'string' ? v : String(v));
const either = (items: string[]): string =>
  items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;

function didYouMean(input: unknown, candidates: readonly string[]): string {
  if (typeof input !== 'string') return '';
  const guess = closest(input, candidates);
  return guess ? `; did you mean \`${guess}\`?` : '';
}

/** Keys an object schema allows, read from the schema that raised the issue. */
function allowedKeys(iss: RawIssue): string[] {
  const shape = (iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape;
  return shape ? Object.keys(shape) : [];
}

/** What each branch of a failed union expected at its root, for "expected a string or a list". */
function unionExpectations(errors: readonly (readonly Issue[])[]): string[] {
  const out: string[] = [];
  for (const branch of errors) {
    for (const i of branch) {
      if (i.path.length > 0) continue;
      if (i.code === 'invalid_type') out.push(TYPE_NAMES[i.expected] ?? i.expected);
      else if (i.code === 'invalid_value') out.push(...i.values.map(quote));
    }
  }
  return [...new Set(out)];
}

/**
 * Messages for zod's own issue kinds, given as the `error` option of a parse. Schema-specific messages
 * (durations, addresses, names) are set on the schema and take precedence over these.
 */
export function issueMessage(iss: RawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'required but missing; add it';
      if (iss.input === null) return `is empty; write ${TYPE_NAMES[iss.expected] ?? iss.expected} here or remove the key`;
      return `expected ${TYPE_NAMES[iss.expected] ?? iss.expected}, got ${describe(iss.input)}`;
    case 'too_small': {
      const min = Number(iss.minimum);
      if (iss.origin === 'array') return `needs at least ${min} item${min === 1 ? '' : 's'}`;
      if (iss.origin === 'string') return min === 1 ? 'must not be empty' : `must be at least ${min} characters`;
      return iss.inclusive === false
        ? `must be more than ${min}, got ${describe(iss.input)}`
        : `must be at least ${min}, got ${describe(iss.input)}`;
    }
    case 'too_big': {
      const max = Number(iss.maximum);
      if (iss.origin === 'array') return `has more than ${max} items`;
      if (iss.origin === 'string') return `must be at most ${max} characters`;
      return iss.inclusive === false
        ? `must be less than ${max}, got ${describe(iss.input)}`
        : `must be at most ${max}, got ${describe(iss.input)}`;
    }
    case 'invalid_value': {
      const values = iss.values.map(quote);
      return `expected ${either(values)}, got ${describe(iss.input)}${didYouMean(iss.input, values)}`;
    }
    case 'unrecognized_keys': {
      // One line per key; toProblems turns each into its own problem.
      const allowed = allowedKeys(iss);
      return iss.keys
        .map((key) => {
          const guess = closest(key, allowed);
          if (guess) return `unknown key \`${key}\`; did you mean \`${guess}\`?`;
          return `unknown key \`${key}\`; remove it${allowed.length ? ` (keys allowed here: ${allowed.join(', ')})` : ''}`;
        })
        .join('\n');
    }
    case 'invalid_union': {
      if (iss.discriminator !== undefined) {
        const options = (Array.isArray(iss.options) ? (iss.options as unknown[]) : [])
          .filter((o) => o !== null && o !== undefined)
          .map(quote);
        const given =
          iss.input !== null && typeof iss.input === 'object' ? (iss.input as Record<string, unknown>)[iss.discriminator] : undefined;
        if (given === undefined) return `required but missing; write one of ${either(options)}`;
        return `expected one of ${either(options)}, got ${describe(given)}${didYouMean(given, options)}`;
      }
      if (iss.input === undefined) return 'required but missing; add it';
      const expected = unionExpectations(iss.errors);
      return expected.length ? `expected ${either(expected)}, got ${describe(iss.input)}` : `does not match any allowed form`;
    }
    case 'invalid_format':
      return iss.format === 'url' ? 'expected a URL, like http://127.0.0.1:9090' : `does not have the expected form (${iss.format})`;
    case 'not_multiple_of':
      return `must be a multiple of ${iss.divisor}`;
    case 'invalid_key':
      return iss.issues[0]?.message ?? 'is not an allowed key';
    default:
      return undefined;
  }
}

/** Where a value (or, with isKey, its key) is in the file; 1-based. */
export type Locate = (path: readonly PropertyKey[], isKey: boolean) => { line: number; column: number } | undefined;

/** Zod issues (from a parse that used issueMessage) into problems, in file order when `locate` knows it. */
export function toProblems(issues: readonly Issue[], locate: Locate = () => undefined): ConfigProblem[] {
  const out: { path: string; message: string; order: number }[] = [];
  const push = (path: readonly PropertyKey[], message: string, isKey: boolean): void => {
    const at = locate(path, isKey);
    out.push({
      path: formatPath(path),
      message: at ? `${message} (line ${at.line}, column ${at.column})` : message,
      order: at ? at.line * 100_000 + at.column : Infinity,
    });
  };
  const visit = (iss: Issue, prefix: readonly PropertyKey[]): void => {
    const path = [...prefix, ...iss.path];
    if (iss.code === 'unrecognized_keys') {
      const lines = iss.message.split('\n');
      iss.keys.forEach((key, i) => push([...path, key], lines.length === iss.keys.length ? (lines[i] as string) : lines.join('; '), true));
      return;
    }
    if (iss.code === 'invalid_union' && iss.discriminator === undefined && iss.errors.length > 0) {
      // Report from the one branch that matched the value's type (a list, not a string), if only one did.
      const further = iss.errors.filter((branch) =>
        branch.some((i) => i.path.length > 0 || (i.code !== 'invalid_type' && i.code !== 'invalid_value')),
      );
      if (further.length === 1) {
        for (const i of further[0] as Issue[]) visit(i, path);
        return;
      }
    }
    if (iss.code === 'invalid_key') {
      push(path, iss.message, true);
      return;
    }
    push(path, iss.message, false);
  };
  for (const iss of issues) visit(iss, []);
  const seen = new Set<string>();
  return out
    .map((p, i) => ({ ...p, i }))
    .sort((a, b) => a.order - b.order || a.i - b.i)
    .filter((p) => {
      const key = `${p.path}\0${p.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .map(({ path, message }) => ({ path, message }));
}
