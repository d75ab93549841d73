// The rotating log file of one slot: every replica's stdout and stderr, and what cutover did to them,
// one prefixed line each. Writes are synchronous appends: a few hundred bytes into the page cache,
// cheaper than the bookkeeping an async stream needs around a rotation, and never reordered.
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { LOG_FILES, LOG_MAX_BYTES, rotatedPath } from './logs.ts';

export type LogStream = 'out' | 'err' | 'cutover';

export interface SlotLogOptions {
  /** Rotate when the current file would grow past this. */
  maxBytes?: number;
  /** Files kept, the current one included (at least 1). */
  files?: number;
  /** Called once per failure to write; logging never stops a replica. */
  onError?: (err: Error) => void;
}

export class SlotLog {
  readonly path: string;
  readonly #maxBytes: number;
  readonly #files: number;
  readonly #onError: (err: Error) => void;
  #fd: number | null = null;
  #size = 0;
  #failed = false;
  #closed = false;

  constructor(path: string, opts: SlotLogOptions = {}) {
    this.path = path;
    this.#maxBytes = opts.maxBytes ?? LOG_MAX_BYTES;
    this.#files = Math.max(1, opts.files ?? LOG_FILES);
    this.#onError = opts.onError ?? (() => {});
  }

  /** Append lines of one replica (`replica` -1 for lines about the whole slot). */
  write(replica: number, stream: LogStream, lines: readonly string[]): void {
    if (lines.length === 0 || this.#closed) return;
    const prefix = `${new Date().toISOString()} ${replica < 0 ? `[${stream}]` : `[${replica} ${stream}]`} `;
    try {
      if (this.#fd === null) this.#open();
      // A burst of output is one write per file it fits in, rotating between lines, so no file
      // grows past maxBytes (unless a single line is longer than that).
      let text = '';
      let bytes = 0;
      for (const line of lines) {
        const entry = `${prefix}${line}\n`;
        const size = Buffer.byteLength(entry);
        if (this.#size + bytes + size > this.#maxBytes && this.#size + bytes > 0) {
          this.#append(text);
          text = '';
          bytes = 0;
          this.#rotate();
        }
        text += entry;
        bytes += size;
      }
      this.#append(text);
      this.#failed = false;
    } catch (err) {
      if (!this.#failed) this.#onError(err as Error);
      this.#failed = true;
    }
  }

  /** Later writes are dropped: a stopped slot's log is not reopened by stray output. */
  close(): void {
    this.#closed = true;
    this.#closeFile();
  }

  #closeFile(): void {
    if (this.#fd === null) return;
    try {
      closeSync(this.#fd);
    } catch {
      // Already closed or the disk is gone: nothing left to flush, writes were synchronous.
    }
    this.#fd = null;
  }

  #append(text: string): void {
    if (text !== '') this.#size += writeSync(this.#fd!, text);
  }

  #open(): void {
    mkdirSync(dirname(this.path), { recursive: true });
    this.#fd = openSync(this.path, 'a');
    this.#size = fstatSync(this.#fd).size;
  }

  #rotate(): void {
    this.#closeFile();
    rmSync(rotatedPath(this.path, this.#files - 1), { force: true });
    for (let g = this.#files - 2; g >= 0; g--) {
      try {
        renameSync(rotatedPath(this.path, g), rotatedPath(this.path, g + 1));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    this.#open();
  }
}
