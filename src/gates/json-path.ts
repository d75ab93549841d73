// The tiny path language of http gate expectations on JSON bodies: `items[0].id`, `meta.version`,
// `["a key.with dots"]`, optionally starting with `$`. Not JSONPath: no wildcards or filters.

export type PathSegment = string | number;

/** The segments of `path`, or an Error saying where it is malformed. */
export function parsePath(path: string): PathSegment[] | Error {
  const segments: PathSegment[] = [];
  let i = path.startsWith('$') ? 1 : 0;
  let expectName = i === 0;
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      const next = path[i + 1];
      if (next === undefined || next === '.' || next === '[') return new Error(`"${path}": a name must follow the . at position ${i}`);
      i++;
      expectName = true;
      continue;
    }
    if (c === '[') {
      const close = path.indexOf(']', i);
      if (close === -1) return new Error(`"${path}": a [ without its ]`);
      const inner = path.slice(i + 1, close).trim();
      if (/^\d+$/.test(inner)) segments.push(Number(inner));
      else if (/^(["']).*\1$/s.test(inner)) segments.push(inner.slice(1, -1));
      else return new Error(`"${path}": [${inner}] is neither an index like [0] nor a quoted key like ["name"]`);
      i = close + 1;
      expectName = false;
      continue;
    }
    if (!expectName) return new Error(`"${path}": expected . or [ at position ${i}`);
    let end = i;
    while (end < path.length && path[end] !== '.' && path[end] !== '[') end++;
    if (end === i) return new Error(`"${path}": an empty name at position ${i}`);
    segments.push(path.slice(i, end));
    i = end;
    expectName = false;
  }
  return segments;
}

/** The value at `path` in `root`; `found` is false when some step of the path does not exist. */
export function getPath(root: unknown, path: PathSegment[]): { found: boolean; value?: unknown } {
  let cur: unknown = root;
  for (const seg of path) {
    if (typeof seg === 'number') {
      if (!Array.isArray(cur) || seg >= cur.length) return { found: false };
      cur = cur[seg];
    } else {
      if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, seg)) return { found: false };
      cur = (cur as Record<string, unknown>)[seg];
    }
  }
  return { found: true, value: cur };
}
