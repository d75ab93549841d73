// Follows a chunked body (RFC 9112 7.1) to find where it ends, without copying its data: chunk
// lines are checked against the grammar as they pass (size, then `;name[=token|"quoted"]`
// extensions, nothing else), so what we forward is framed the same way by any upstream that reads
// the RFC. Stricter than the grammar in one point: no whitespace (BWS) inside a chunk line, which
// Node's own parser refuses too, so an upstream never reads a line we passed differently. The trailer section is held (it is small and bounded), checked as field lines, and
// re-emitted without the fields a trailer may not carry (rules.ts FORBIDDEN_TRAILERS).
import { FORBIDDEN_TRAILERS } from './rules.ts';

const S_SIZE = 0;
const S_EXT_PRE_NAME = 2;
const S_EXT_NAME = 3;
const S_EXT_PRE_VAL = 5;
const S_EXT_TOKEN_VAL = 6;
const S_EXT_QUOTED = 7;
const S_EXT_QUOTED_ESC = 8;
const S_EXT_AFTER_QUOTE = 9;
const S_SIZE_LF = 11;
const S_DATA = 12;
const S_DATA_CR = 13;
const S_DATA_LF = 14;
const S_TRAILER_START = 15;
const S_TRAILER_LINE = 16;
const S_TRAILER_LF = 17;
const S_FINAL_LF = 18;

export const CHUNKED_MORE = -1;
export const CHUNKED_ERROR = -2;

/** Longest chunk line extension, and longest trailer section, in bytes. */
export const MAX_EXTENSION = 4096;
export const MAX_TRAILERS = 8192;

/** tchar (RFC 9110 5.6.2) by byte. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

/** qdtext (RFC 9110 5.6.4): HTAB, SP, visible ASCII but `"` and `\`, obs-text. */
function qdtext(c: number): boolean {
  return c === 9 || c === 32 || c === 33 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

export class ChunkedTracker {
  state = S_SIZE;
  size = 0;
  digits = 0;
  remaining = 0;
  lineBytes = 0;
  /**
   * After a feed: the offset in that buffer from which bytes belong to the held trailer section (0
   * when it began in an earlier buffer), or -1 when none of them do. The caller forwards the bytes
   * before it, and `trailerSection()` once the message has ended.
   */
  holdFrom = -1;
  private trailers: Buffer | null = null;
  private trailerLen = 0;
  private lineStart = 0;

  reset(): void {
    this.state = S_SIZE;
    this.size = 0;
    this.digits = 0;
    this.remaining = 0;
    this.lineBytes = 0;
    this.holdFrom = -1;
    this.trailerLen = 0;
    this.lineStart = 0;
  }

  /**
   * Bytes of chunk data left before the next framing byte; 0 on a chunk line or in the trailers.
   * For the h2 decoder (chunked-decoder.ts), which cuts the data out and leaves every rule to this file.
   */
  dataLeft(): number {
    return this.state === S_DATA ? this.remaining : 0;
  }

  /** True between chunks, where a terminating chunk could be written cleanly. */
  atBoundary(): boolean {
    return this.state === S_SIZE && this.digits === 0;
  }

  /** The trailer section to send in place of the held bytes: the kept field lines and the final CRLF. */
  trailerSection(): Buffer {
    const t = this.trailers as Buffer;
    return t.subarray(0, this.trailerLen);
  }

  private hold(c: number): boolean {
    if (this.trailers === null) this.trailers = Buffer.allocUnsafe(MAX_TRAILERS + 2);
    if (this.trailerLen >= MAX_TRAILERS) return false;
    this.trailers[this.trailerLen++] = c;
    return true;
  }

  /** A trailer line just ended (its CRLF held): refuse it unless it is a field line; drop forbidden fields. */
  private endTrailerLine(): boolean {
    const t = this.trailers as Buffer;
    const from = this.lineStart;
    const end = this.trailerLen - 2;
    let i = from;
    while (i < end && TCHAR[t[i] as number] === 1) i++;
    if (i === from || i >= end || t[i] !== 58) return false; // name ':'
    for (let j = i + 1; j < end; j++) {
      const c = t[j] as number;
      if ((c < 32 && c !== 9) || c === 127) return false;
    }
    if (FORBIDDEN_TRAILERS.has(t.toString('latin1', from, i).toLowerCase())) this.trailerLen = from;
    this.lineStart = this.trailerLen;
    return true;
  }

  /**
   * Reads `buf` from `start`. Returns the offset just past the end of the message, CHUNKED_MORE when
   * all of `buf` belongs to the message and it has not ended, or CHUNKED_ERROR on malformed framing.
   */
  feed(buf: Buffer, start: number): number {
    let i = start;
    const n = buf.length;
    this.holdFrom = this.state >= S_TRAILER_START ? start : -1;
    while (i < n) {
      const st = this.state;
      if (st === S_DATA) {
        const take = Math.min(this.remaining, n - i);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.state = S_DATA_CR;
        continue;
      }
      const c = buf[i] as number;
      i++;
      if (st >= S_EXT_PRE_NAME && st <= S_EXT_AFTER_QUOTE && ++this.lineBytes > MAX_EXTENSION) return CHUNKED_ERROR;
      switch (st) {
        case S_SIZE: {
          let d = -1;
          if (c >= 48 && c <= 57) d = c - 48;
          else if (c >= 97 && c <= 102) d = c - 87;
          else if (c >= 65 && c <= 70) d = c - 55;
          if (d >= 0) {
            if (++this.digits > 12) return CHUNKED_ERROR; // over 2^48 bytes in one chunk: refuse
            this.size = this.size * 16 + d;
          } else if (this.digits === 0) return CHUNKED_ERROR;
          else if (c === 13) this.state = S_SIZE_LF;
          else if (c === 59) this.state = S_EXT_PRE_NAME;
          else return CHUNKED_ERROR;
          if (this.state !== S_SIZE) this.lineBytes = 0;
          break;
        }
        case S_EXT_PRE_NAME:
          if (TCHAR[c] === 1) this.state = S_EXT_NAME;
          else return CHUNKED_ERROR; // `2;` and `2;;` have no name
          break;
        case S_EXT_NAME:
          if (TCHAR[c] === 1) break;
          if (c === 61) this.state = S_EXT_PRE_VAL;
          else if (c === 59) this.state = S_EXT_PRE_NAME;
          else if (c === 13) this.state = S_SIZE_LF;
          else return CHUNKED_ERROR;
          break;
        case S_EXT_PRE_VAL:
          if (c === 34) this.state = S_EXT_QUOTED;
          else if (TCHAR[c] === 1) this.state = S_EXT_TOKEN_VAL;
          else return CHUNKED_ERROR;
          break;
        case S_EXT_TOKEN_VAL:
          if (TCHAR[c] === 1) break;
          if (c === 59) this.state = S_EXT_PRE_NAME;
          else if (c === 13) this.state = S_SIZE_LF;
          else return CHUNKED_ERROR;
          break;
        case S_EXT_QUOTED:
          // A quoted-string never spans a line: CR, LF and other controls inside it are refused.
          if (c === 34) this.state = S_EXT_AFTER_QUOTE;
          else if (c === 92) this.state = S_EXT_QUOTED_ESC;
          else if (!qdtext(c)) return CHUNKED_ERROR;
          break;
        case S_EXT_QUOTED_ESC:
          if (c === 9 || (c >= 32 && c !== 127)) this.state = S_EXT_QUOTED;
          else return CHUNKED_ERROR;
          break;
        case S_EXT_AFTER_QUOTE:
          if (c === 59) this.state = S_EXT_PRE_NAME;
          else if (c === 13) this.state = S_SIZE_LF;
          else return CHUNKED_ERROR;
          break;
        case S_SIZE_LF:
          if (c !== 10) return CHUNKED_ERROR;
          if (this.size === 0) {
            this.state = S_TRAILER_START;
            this.holdFrom = i;
            this.trailerLen = 0;
            this.lineStart = 0;
          } else {
            this.remaining = this.size;
            this.state = S_DATA;
          }
          this.size = 0;
          this.digits = 0;
          break;
        case S_DATA_CR:
          if (c !== 13) return CHUNKED_ERROR;
          this.state = S_DATA_LF;
          break;
        case S_DATA_LF:
          if (c !== 10) return CHUNKED_ERROR;
          this.state = S_SIZE;
          break;
        case S_TRAILER_START:
          if (c === 13) {
            this.state = S_FINAL_LF;
          } else if (c === 32 || c === 9 || c === 10 || !this.hold(c)) {
            return CHUNKED_ERROR; // folded or bare-LF trailer lines are not field lines
          } else {
            this.state = S_TRAILER_LINE;
          }
          break;
        case S_TRAILER_LINE:
          if (c === 10 || !this.hold(c)) return CHUNKED_ERROR;
          if (c === 13) this.state = S_TRAILER_LF;
          break;
        case S_TRAILER_LF:
          if (c !== 10 || !this.hold(c) || !this.endTrailerLine()) return CHUNKED_ERROR;
          this.state = S_TRAILER_START;
          break;
        case S_FINAL_LF: {
          if (c !== 10) return CHUNKED_ERROR;
          if (this.trailers === null) this.trailers = Buffer.allocUnsafe(MAX_TRAILERS + 2);
          this.trailers[this.trailerLen++] = 13;
          this.trailers[this.trailerLen++] = 10;
          const hold = this.holdFrom;
          this.state = S_SIZE;
          this.lineBytes = 0;
          this.holdFrom = hold;
          return i;
        }
      }
    }
    return CHUNKED_MORE;
  }
}
