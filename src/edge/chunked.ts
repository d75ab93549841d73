// Decodes an HTTP/1.1 chunked body into its data and trailer fields, for clients that frame bodies
// themselves (HTTP/2): the router's own tracker (router/http1.ts) only finds where a body ends, since
// HTTP/1.1 clients get the chunks as they are.

const S_SIZE = 0;
const S_EXT = 1;
const S_SIZE_LF = 2;
const S_DATA = 3;
const S_DATA_CR = 4;
const S_DATA_LF = 5;
const S_TRAILER = 6;
const S_TRAILER_LF = 7;
const S_DONE = 8;

/** A line of a size or a trailer longer than this is refused. */
const MAX_LINE = 8192;
/** All trailer fields together. */
const MAX_TRAILERS = 16384;

export const DECODE_MORE = -1;
export const DECODE_ERROR = -2;

export class ChunkedDecoder {
  private state = S_SIZE;
  private size = 0;
  private digits = 0;
  private remaining = 0;
  private line = '';
  private trailerBytes = 0;
  readonly trailers: [string, string][] = [];

  /**
   * Reads `buf`, calling `data` with each slice of body data. Returns the offset just past the end of
   * the body, DECODE_MORE when all of `buf` was used and the body goes on, or DECODE_ERROR.
   */
  feed(buf: Buffer, data: (slice: Buffer) => void): number {
    let i = 0;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case S_DATA: {
          const take = Math.min(this.remaining, n - i);
          data(buf.subarray(i, i + take));
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = S_DATA_CR;
          break;
        }
        case S_SIZE: {
          const c = buf[i] as number;
          let d = -1;
          if (c >= 48 && c <= 57) d = c - 48;
          else if (c >= 97 && c <= 102) d = c - 87;
          else if (c >= 65 && c <= 70) d = c - 55;
          if (d >= 0) {
            if (++this.digits > 12) return DECODE_ERROR;
            this.size = this.size * 16 + d;
          } else if (this.digits === 0) return DECODE_ERROR;
          else if (c === 13) this.state = S_SIZE_LF;
          else if (c === 59 || c === 32 || c === 9) {
            this.state = S_EXT;
            this.line = '';
          } else return DECODE_ERROR;
          i++;
          break;
        }
        case S_EXT: {
          const c = buf[i] as number;
          if (c === 13) this.state = S_SIZE_LF;
          else if (c === 10 || this.line.length > MAX_LINE) return DECODE_ERROR;
          else this.line += 'x';
          i++;
          break;
        }
        case S_SIZE_LF:
          if (buf[i] !== 10) return DECODE_ERROR;
          i++;
          if (this.size === 0) {
            this.state = S_TRAILER;
            this.line = '';
          } else {
            this.remaining = this.size;
            this.state = S_DATA;
          }
          this.size = 0;
          this.digits = 0;
          break;
        case S_DATA_CR:
          if (buf[i] !== 13) return DECODE_ERROR;
          this.state = S_DATA_LF;
          i++;
          break;
        case S_DATA_LF:
          if (buf[i] !== 10) return DECODE_ERROR;
          this.state = S_SIZE;
          i++;
          break;
        case S_TRAILER: {
          const cr = buf.indexOf(13, i);
          const end = cr < 0 ? n : cr;
          this.line += buf.toString('latin1', i, end);
          this.trailerBytes += end - i;
          if (this.line.length > MAX_LINE || this.trailerBytes > MAX_TRAILERS) return DECODE_ERROR;
          i = end;
          if (cr >= 0) {
            this.state = S_TRAILER_LF;
            i++;
          }
          break;
        }
        case S_TRAILER_LF: {
          if (buf[i] !== 10) return DECODE_ERROR;
          i++;
          if (this.line === '') {
            this.state = S_DONE;
            return i;
          }
          const colon = this.line.indexOf(':');
          if (colon <= 0) return DECODE_ERROR;
          this.trailers.push([this.line.slice(0, colon).trim().toLowerCase(), this.line.slice(colon + 1).trim()]);
          this.line = '';
          this.state = S_TRAILER;
          break;
        }
        case S_DONE:
          return i;
      }
    }
    return DECODE_MORE;
  }

  /** Between chunks: where a stream can end cleanly (an event stream between events). */
  atBoundary(): boolean {
    return this.state === S_SIZE && this.digits === 0;
  }
}
