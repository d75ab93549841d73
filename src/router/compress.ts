// Response compression (config `compression`, off by default): when the client accepts br, zstd or
// gzip and the upstream sent an identity body of a compressible type, big enough to be worth it, the
// router compresses it on the way out (HTTP/1.1: conn.ts, HTTP/2: edge/h2.ts). The decision is a pure
// function of the request's Accept-Encoding and the response head; the bytes go through node:zlib.
// Never compressed: an encoded body (Content-Encoding), a range (206, Content-Range), Cache-Control
// no-transform, HEAD, 204/304, event streams (compressing them would hold events back), and bodies
// whose Content-Length is under minSize (a chunked body's size is not known up front: it is compressed,
// as nginx does). An ETag becomes weak (the bytes differ), and Vary gains Accept-Encoding.
import zlib from 'node:zlib';
import { ChunkedDecoder, DECODE_ERROR, DECODE_MORE } from './chunked-decoder.ts';
import type { RequestHead, ResponseHead } from './http1.ts';
import { BODY_CHUNKED } from './rules.ts';

export type Encoding = 'br' | 'zstd' | 'gzip';
/** Preferred first when the client weighs several the same. */
export const ENCODINGS: readonly Encoding[] = ['br', 'zstd', 'gzip'];

/** What the config gives the router (serialisable: it reaches worker processes). */
export interface CompressionOptions {
  /** Media types (`text/html`) or families (`text/*`). */
  types: string[];
  /** Bodies with a Content-Length under this many bytes go as they are. */
  minSize: number;
  /** The encodings offered, in order of preference. */
  encodings: Encoding[];
}

export const DEFAULT_TYPES = [
  'text/*',
  'application/json',
  'application/javascript',
  'application/xml',
  'application/wasm',
  'image/svg+xml',
  'application/manifest+json',
];

/** The encoding to use for a client's Accept-Encoding (RFC 9110 12.5.3), or null: send identity. */
export function acceptedEncoding(accept: string | null, offered: readonly Encoding[]): Encoding | null {
  if (accept === null || accept === '') return null;
  const q = new Map<string, number>();
  for (const part of accept.split(',')) {
    const [name = '', ...params] = part.trim().toLowerCase().split(';');
    let weight = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p);
      if (m) weight = Number(m[1]);
    }
    if (name !== '' && Number.isFinite(weight)) q.set(name.trim(), weight);
  }
  let best: Encoding | null = null;
  let bestQ = 0;
  for (const e of offered) {
    const w = q.get(e) ?? q.get(e === 'gzip' ? 'x-gzip' : e) ?? q.get('*') ?? 0;
    if (w > bestQ) {
      best = e;
      bestQ = w;
    }
  }
  return best;
}

/** The value of header `name` (lower case) in CRLF-ended header lines, repeats joined; null when absent. */
export function headerValue(lines: string, name: string): string | null {
  let out: string | null = null;
  let from = 0;
  while (from < lines.length) {
    const end = lines.indexOf('\r\n', from);
    const stop = end < 0 ? lines.length : end;
    const colon = lines.indexOf(':', from);
    if (colon > from && colon < stop && colon - from === name.length && lines.slice(from, colon).toLowerCase() === name) {
      const v = lines.slice(colon + 1, stop).trim();
      out = out === null ? v : `${out}, ${v}`;
    }
    from = stop + 2;
  }
  return out;
}

function typeMatches(types: readonly string[], contentType: string | null): boolean {
  if (contentType === null) return false;
  const media = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  if (media === 'text/event-stream') return false;
  for (const t of types) {
    if (t.endsWith('/*') ? media.startsWith(t.slice(0, -1)) : media === t) return true;
  }
  return false;
}

/**
 * The encoding for this response, or null to send it as it is. `length`: the body's Content-Length,
 * -1 when unknown (chunked); `lines`: the response's header lines.
 */
export function compressionFor(
  opts: CompressionOptions,
  acceptEncoding: string | null,
  method: string,
  status: number,
  contentType: string | null,
  length: number,
  lines: string,
): Encoding | null {
  if (method === 'HEAD' || status < 200 || status === 204 || status === 206 || status === 304) return null;
  if (length >= 0 && length < opts.minSize) return null;
  if (!typeMatches(opts.types, contentType)) return null;
  const encoding = acceptedEncoding(acceptEncoding, opts.encodings);
  if (encoding === null) return null;
  const ce = headerValue(lines, 'content-encoding');
  if (ce !== null && ce.toLowerCase() !== 'identity') return null;
  if (headerValue(lines, 'content-range') !== null) return null;
  if (headerValue(lines, 'cache-control')?.toLowerCase().includes('no-transform')) return null;
  return encoding;
}

const DROP = new Set(['content-length', 'transfer-encoding', 'content-encoding', 'etag', 'vary']);

/** The response's header lines for a body compressed with `encoding` (framing fields left to the caller). */
export function compressedLines(lines: string, encoding: Encoding): string {
  let out = '';
  let from = 0;
  while (from < lines.length) {
    const end = lines.indexOf('\r\n', from);
    const stop = end < 0 ? lines.length : end;
    const colon = lines.indexOf(':', from);
    const name = colon > from && colon < stop ? lines.slice(from, colon).toLowerCase() : '';
    if (!DROP.has(name)) out += `${lines.slice(from, stop)}\r\n`;
    from = stop + 2;
  }
  const etag = headerValue(lines, 'etag');
  if (etag !== null) out += `etag: ${etag.startsWith('W/') ? etag : `W/${etag}`}\r\n`;
  const vary = headerValue(lines, 'vary');
  if (vary === null) out += 'vary: accept-encoding\r\n';
  else if (vary.trim() === '*' || /(^|,)\s*accept-encoding\s*(,|$)/i.test(vary)) out += `vary: ${vary}\r\n`;
  else out += `vary: ${vary}, accept-encoding\r\n`;
  return `${out}content-encoding: ${encoding}\r\n`;
}

/** Compressors made and not yet ended or destroyed in this process (each holds zlib's native state until then). */
let open = 0;

/** How many compressors hold native state now: what a client gone mid-answer must not leave behind. */
export function openCompressors(): number {
  return open;
}

/** A compressor for one body: write() the identity bytes, end() once; `onData` gets the encoded ones. */
export class BodyCompressor {
  private readonly z: zlib.Gzip | zlib.BrotliCompress | zlib.ZstdCompress;
  private ended = false;
  private counted = true;

  constructor(encoding: Encoding, onData: (b: Buffer) => void) {
    // Levels for proxying on the fly: fast, still most of the gain on text.
    if (encoding === 'br') this.z = zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } });
    else if (encoding === 'zstd') this.z = zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: 3 } });
    else this.z = zlib.createGzip({ level: 6 });
    this.z.on('data', onData);
    this.z.on('error', () => {});
    this.z.once('close', () => this.uncount());
    open++;
  }

  private uncount(): void {
    if (!this.counted) return;
    this.counted = false;
    open--;
  }

  write(b: Buffer): void {
    if (!this.ended && b.length > 0) this.z.write(b);
  }

  /** Flushes what is left; `done` runs after the last onData. */
  end(done: () => void): void {
    if (this.ended) return;
    this.ended = true;
    this.z.once('end', done);
    this.z.end();
  }

  destroy(): void {
    this.ended = true;
    this.z.destroy();
    this.uncount();
  }
}

/** CompressedAnswer.feed: the identity body goes on, ended in this chunk, ended before its last byte, or is malformed. */
export const ZIP_MORE = 0;
export const ZIP_DONE = 1;
export const ZIP_EXTRA = 2;
export const ZIP_ERROR = 3;

/**
 * One HTTP/1.1 answer compressed on its way to the client (conn.ts): finds where the upstream's
 * identity body ends (Content-Length, or chunked through the decoder), and sends the encoded bytes
 * chunk-framed to an HTTP/1.1 client (as they are to an HTTP/1.0 one, which then sees a close).
 */
export class CompressedAnswer {
  /** The header lines to send in place of the upstream's (framing included). */
  readonly lines: string;
  /** The identity body has ended; the compressor is flushing what is left. */
  ending = false;
  private readonly zip: BodyCompressor;
  private readonly decoder: ChunkedDecoder | null;
  private readonly chunked: boolean;
  private remaining: number;

  /** A compressed answer for `res`, or null to send it as it is. `send` writes to the client. */
  static start(opts: CompressionOptions, req: RequestHead, res: ResponseHead, send: (b: Buffer) => void): CompressedAnswer | null {
    const chunkedBody = res.bodyMode === BODY_CHUNKED;
    // A chunked answer that announces trailers keeps them: it goes as it is.
    if (chunkedBody && headerValue(res.forwardLines, 'trailer') !== null) return null;
    const length = chunkedBody ? -1 : res.contentLength;
    const accept = headerValue(req.forwardLines, 'accept-encoding');
    const enc = compressionFor(opts, accept, req.method, res.status, res.contentType, length, res.forwardLines);
    return enc === null ? null : new CompressedAnswer(enc, res, req.minor === 1, send);
  }

  private constructor(enc: Encoding, res: ResponseHead, chunked: boolean, send: (b: Buffer) => void) {
    this.chunked = chunked;
    this.decoder = res.bodyMode === BODY_CHUNKED ? new ChunkedDecoder() : null;
    this.remaining = this.decoder === null ? res.contentLength : 0;
    this.lines = compressedLines(res.forwardLines, enc) + (chunked ? 'transfer-encoding: chunked\r\n' : '');
    this.zip = new BodyCompressor(enc, (b) => send(chunked ? Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, CRLF]) : b));
    this.send = send;
  }

  private readonly send: (b: Buffer) => void;

  /** Identity body bytes from the upstream (the compressor may keep a reference to them until it flushes). */
  feed(chunk: Buffer): number {
    if (this.decoder !== null) {
      const zip = this.zip;
      const end = this.decoder.feed(chunk, (d) => zip.write(d));
      if (end === DECODE_ERROR) return ZIP_ERROR;
      if (end === DECODE_MORE) return ZIP_MORE;
      return end < chunk.length ? ZIP_EXTRA : ZIP_DONE;
    }
    const used = Math.min(chunk.length, this.remaining);
    this.remaining -= used;
    this.zip.write(used === chunk.length ? chunk : chunk.subarray(0, used));
    if (this.remaining > 0) return ZIP_MORE;
    return used < chunk.length ? ZIP_EXTRA : ZIP_DONE;
  }

  /** The client or the upstream went away mid-answer: zlib's state is freed now, not at some later GC. */
  destroy(): void {
    this.zip.destroy();
  }

  /** After ZIP_DONE/ZIP_EXTRA: flushes, ends the chunked framing, then `done`. */
  end(done: () => void): void {
    this.ending = true;
    this.zip.end(() => {
      if (this.chunked) this.send(LAST_CHUNK);
      done();
    });
  }
}

const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');
