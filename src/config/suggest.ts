// "Did you mean …?" for misspelt keys and values: the closest candidate by edit distance, if any is close.

/**
 * Optimal string alignment distance (Levenshtein plus swaps of two neighbours, the commonest typo).
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] as number;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      d[i * cols + j] = best;
    }
  }
  return at(a.length, b.length);
}

// Case and separators do not count as typos: `max_header_bytes` and `MaxHeaderBytes` both mean `maxHeaderBytes`.
const fold = (s: string): string => s.toLowerCase().replace(/[-_ ]/g, '');

/** The candidate closest to `word`, when close enough to be a likely typo; otherwise undefined. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = fold(word);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const distance = editDistance(w, fold(c));
    if (distance < bestDistance) {
      best = c;
      bestDistance = distance;
    }
  }
  // One edit in short words, about one in three in longer ones.
  const limit = Math.max(1, Math.floor(Math.min(w.length, best?.length ?? 0) / 3));
  return bestDistance <= limit ? best : undefined;
}
