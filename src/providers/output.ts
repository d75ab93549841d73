// A replica's output as lines: a splitter per stream (stdout, stderr) that keeps a partial line until
// its newline arrives, and a ring of the last lines that a failed provisioning quotes in its reason.

/** A line longer than this is cut into pieces, so a program that never prints a newline cannot grow memory. */
export const MAX_LINE_BYTES = 16 * 1024;

export class LineSplitter {
  #partial = '';

  /** The complete lines in `chunk` (without their newlines), keeping the rest for the next chunk. */
  push(chunk: string): string[] {
    const text = this.#partial + chunk;
    const lines = text.split('\n');
    this.#partial = lines.pop() ?? '';
    const out: string[] = [];
    for (const line of lines) out.push(...cut(line.endsWith('\r') ? line.slice(0, -1) : line));
    if (this.#partial.length > MAX_LINE_BYTES) {
      const pieces = cut(this.#partial);
      this.#partial = pieces.pop() ?? '';
      out.push(...pieces);
    }
    return out;
  }

  /** What is left when the stream ends: a last line without a newline, if any. */
  flush(): string[] {
    const rest = this.#partial;
    this.#partial = '';
    return rest === '' ? [] : cut(rest);
  }
}

function cut(line: string): string[] {
  if (line.length <= MAX_LINE_BYTES) return [line];
  const pieces: string[] = [];
  for (let i = 0; i < line.length; i += MAX_LINE_BYTES) pieces.push(line.slice(i, i + MAX_LINE_BYTES));
  return pieces;
}

export class LineRing {
  readonly capacity: number;
  #lines: string[] = [];
  #start = 0;

  constructor(capacity: number) {
    this.capacity = Math.max(1, capacity);
  }

  push(line: string): void {
    if (this.#lines.length < this.capacity) {
      this.#lines.push(line);
    } else {
      this.#lines[this.#start] = line;
      this.#start = (this.#start + 1) % this.capacity;
    }
  }

  /** The last `n` lines (default all kept), oldest first. */
  last(n = this.capacity): string[] {
    const ordered = [...this.#lines.slice(this.#start), ...this.#lines.slice(0, this.#start)];
    return n >= ordered.length ? ordered : ordered.slice(ordered.length - Math.max(0, n));
  }
}
