// Decodes an HTTP/1.1 chunked body into its data and trailer fields, for code that frames bodies
// itself: the edge's HTTP/2 streams (edge/h2.ts) and the compressor of a chunked answer (conn.ts).
// The framing rules are the router's own, not a copy: every byte of a chunk line and of the trailer
// section goes through the tracker (chunked.ts: size line, the extension grammar of RFC 9112 7.1.1,
// trailer field lines, the fields a trailer may not carry), so an h2 client is refused exactly what an
// HTTP/1.1 client is. This file only cuts out the data between the lines. It lives in router/ because
// the router uses it too: edge/ builds on router/, never the other way.
import { CHUNKED_ERROR, CHUNKED_MORE, ChunkedTracker } from './chunked.ts';

export const DECODE_MORE = -1;
export const DECODE_ERROR = -2;

export class ChunkedDecoder {
  readonly #tracker = new ChunkedTracker();
  #done = false;
  #failed = false;
  /** The trailer fields (names in lower case) once the body has ended, the forbidden ones left out. */
  readonly trailers: [string, string][] = [];

  /**
   * Reads `buf`, calling `data` with each slice of body data. Returns the offset just past the end of
   * the body, DECODE_MORE when all of `buf` was used and the body goes on, or DECODE_ERROR.
   */
  feed(buf: Buffer, data: (slice: Buffer) => void): number {
    if (this.#failed) return DECODE_ERROR;
    if (this.#done) return 0;
    const t = this.#tracker;
    const n = buf.length;
    let i = 0;
    while (i < n) {
      const left = t.dataLeft();
      // Chunk data: handed on as it is, and the tracker told it passed. Anything else is a line,
      // given to the tracker up to its LF at most, so it stops where the next data begins.
      let upTo: number;
      if (left > 0) {
        upTo = Math.min(n, i + left);
        data(buf.subarray(i, upTo));
      } else {
        const lf = buf.indexOf(10, i);
        upTo = lf < 0 ? n : lf + 1;
      }
      const end = t.feed(upTo === n ? buf : buf.subarray(0, upTo), i);
      if (end === CHUNKED_ERROR) {
        this.#failed = true;
        return DECODE_ERROR;
      }
      if (end !== CHUNKED_MORE) {
        this.#done = true;
        this.#readTrailers(t.trailerSection());
        return end;
      }
      i = upTo;
    }
    return DECODE_MORE;
  }

  /** The tracker checked every field line (`name:value` with no controls) and dropped the forbidden ones. */
  #readTrailers(section: Buffer): void {
    const lines = section.toString('latin1').split('\r\n');
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon > 0) this.trailers.push([line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]);
    }
  }

  /** Between chunks: where a stream can end cleanly (an event stream between events). */
  atBoundary(): boolean {
    return !this.#done && !this.#failed && this.#tracker.atBoundary();
  }
}
