// The http gate: a smoke suite sent through the router's preview route (the preview header carries
// the release's token), so it sees exactly what users will see once the idle slot is live. Every
// request runs, and every failed expectation is kept with what was expected and what came.
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import zlib from 'node:zlib';
import type { HttpGateRequest } from '../config/types.ts';
import { clip, deadline, formatMs, redact } from './common.ts';
import { getPath, parsePath } from './json-path.ts';
import type { GateContext, GateResult, HttpGate } from './types.ts';

/** Response bodies are checked on their first this many bytes; the rest is read and dropped. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** How much of a body a failed expectation quotes. */
export const BODY_EXCERPT_CHARS = 200;

/** One failed expectation of one request. */
export interface HttpFailure {
  /** `GET /api` */
  request: string;
  expectation: 'status' | 'header' | 'body' | 'bodyRegex' | 'json' | 'maxLatency' | 'request';
  expected: unknown;
  got: unknown;
  /** `GET /api: expected status 200, got 500` */
  message: string;
}

interface Exchange {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  truncated: boolean;
  ms: number;
}

export async function runHttpGate(gate: HttpGate, ctx: GateContext): Promise<GateResult> {
  const started = performance.now();
  const name = `http: ${gate.requests.map(label).join(', ')}`;
  const dl = deadline(gate.timeout, ctx.signal);
  const base = new URL(ctx.previewUrl);
  const lib = base.protocol === 'https:' ? https : http;
  // One keep-alive agent per run, like a browser: the suite sees the router's connection handling,
  // and nothing stays open after it.
  const agent = new lib.Agent({ keepAlive: true, maxSockets: 1 });
  const failures: HttpFailure[] = [];
  const requests: Record<string, unknown>[] = [];
  let stopped: 'timeout' | 'aborted' | null = null;
  try {
    for (const req of gate.requests) {
      const what = label(req);
      let ex: Exchange;
      try {
        ex = await exchange(lib, agent, base, req, ctx, dl.signal);
      } catch (err) {
        stopped = dl.reason();
        if (stopped !== null) {
          const why =
            stopped === 'timeout' ? `no response before the gate's timeout (${formatMs(gate.timeout)})` : 'the release was aborted';
          failures.push({ request: what, expectation: 'request', expected: 'a response', got: null, message: `${what}: ${why}` });
          requests.push({ request: what, error: why });
          break;
        }
        const message = (err as Error).message;
        failures.push({
          request: what,
          expectation: 'request',
          expected: 'a response',
          got: message,
          message: `${what}: request failed: ${message}`,
        });
        requests.push({ request: what, error: message });
        continue;
      }
      const mine = check(what, req, ex);
      failures.push(...mine);
      requests.push({
        request: what,
        status: ex.status,
        latencyMs: Math.round(ex.ms),
        ...(mine.length > 0 ? { body: clip(ex.body, BODY_EXCERPT_CHARS) } : {}),
        ...(ex.truncated ? { bodyTruncatedAt: MAX_BODY_BYTES } : {}),
      });
    }
  } finally {
    dl.clear();
    agent.destroy();
  }
  const outcome = stopped === 'timeout' ? 'timeout' : stopped === 'aborted' ? 'error' : failures.length > 0 ? 'failed' : 'passed';
  const first = failures[0];
  const summary =
    outcome === 'passed'
      ? `${gate.requests.length} request${gate.requests.length === 1 ? '' : 's'} met every expectation`
      : `${first?.message ?? outcome}${failures.length > 1 ? ` (and ${failures.length - 1} more failed expectation${failures.length === 2 ? '' : 's'})` : ''}`;
  return redact(
    { kind: 'http', name, outcome, durationMs: Math.round(performance.now() - started), summary, details: { failures, requests } },
    ctx.previewToken,
  );
}

function label(req: HttpGateRequest): string {
  return `${req.method} ${req.path}`;
}

function exchange(
  lib: typeof http | typeof https,
  agent: http.Agent,
  base: URL,
  req: HttpGateRequest,
  ctx: GateContext,
  signal: AbortSignal,
): Promise<Exchange> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v;
  headers[ctx.previewHeader.toLowerCase()] = ctx.previewToken;
  if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
  const basePath = base.pathname.replace(/\/$/, '');
  return new Promise<Exchange>((resolve, reject) => {
    const start = performance.now();
    const r = lib.request(
      {
        protocol: base.protocol,
        hostname: base.hostname,
        port: base.port,
        method: req.method,
        path: basePath + req.path,
        headers,
        agent,
        signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let truncated = false;
        res.on('data', (chunk: Buffer) => {
          if (size >= MAX_BODY_BYTES) {
            truncated = true;
            return;
          }
          chunks.push(chunk);
          size += chunk.length;
        });
        res.on('error', reject);
        res.on('end', () => {
          const ms = performance.now() - start;
          let raw = Buffer.concat(chunks);
          if (raw.length > MAX_BODY_BYTES) {
            raw = raw.subarray(0, MAX_BODY_BYTES);
            truncated = true;
          }
          const decoded = truncated ? Promise.resolve({ body: raw, truncated }) : decode(raw, res.headers['content-encoding']);
          void decoded.then((d) =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: d.body.toString('utf8'), truncated: d.truncated, ms }),
          );
        });
      },
    );
    r.on('error', reject);
    r.end(req.body);
  });
}

/**
 * Bodies are compared as a user's browser shows them: decompressed when the request asked for it,
 * and like any body only up to MAX_BODY_BYTES. The limit holds for what decompression makes, not
 * only for what came over the wire: a small answer that inflates to gigabytes (a compression bomb
 * from the new version) would stall the daemon, and with it the router that shares its process.
 * A body that does not decompress is compared as it came.
 */
export function decode(raw: Buffer, encoding: string | undefined, max = MAX_BODY_BYTES): Promise<{ body: Buffer; truncated: boolean }> {
  let inflate: zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress;
  switch (encoding?.trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      inflate = zlib.createGunzip();
      break;
    case 'deflate':
      inflate = zlib.createInflate();
      break;
    case 'br':
      inflate = zlib.createBrotliDecompress();
      break;
    default:
      return Promise.resolve({ body: raw, truncated: false });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (result: { body: Buffer; truncated: boolean }): void => {
      if (done) return;
      done = true;
      inflate.destroy();
      resolve(result);
    };
    inflate.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      // Stops inflating here: the rest is never made.
      if (size > max) finish({ body: Buffer.concat(chunks).subarray(0, max), truncated: true });
    });
    inflate.on('end', () => finish({ body: Buffer.concat(chunks), truncated: false }));
    inflate.on('error', () => finish({ body: raw, truncated: false }));
    inflate.end(raw);
  });
}

/** Every expectation of `req` that `ex` does not meet. */
export function check(what: string, req: HttpGateRequest, ex: Exchange): HttpFailure[] {
  const out: HttpFailure[] = [];
  const fail = (expectation: HttpFailure['expectation'], expected: unknown, got: unknown, text: string): void => {
    out.push({ request: what, expectation, expected, got, message: `${what}: ${text}` });
  };
  const e = req.expect;
  const excerpt = JSON.stringify(clip(ex.body, BODY_EXCERPT_CHARS));

  if (e.status !== undefined) {
    if (ex.status !== e.status) fail('status', e.status, ex.status, `expected status ${e.status}, got ${ex.status}`);
  } else if (ex.status < 200 || ex.status >= 400) {
    // A request with no status expectation still must not fail: that is what a smoke test means.
    fail('status', '2xx or 3xx', ex.status, `expected a 2xx or 3xx status, got ${ex.status}`);
  }

  for (const [name, want] of Object.entries(e.headers ?? {})) {
    const raw = ex.headers[name.toLowerCase()];
    const got = raw === undefined ? undefined : Array.isArray(raw) ? raw.join(', ') : raw;
    const shown = got === undefined ? 'none' : JSON.stringify(got);
    const re = asRegex(want);
    if (re instanceof Error) {
      fail(
        'header',
        want,
        got ?? null,
        `expected header ${name} to match ${want}, but that is not a valid regular expression (${re.message}); fix the gate`,
      );
    } else if (re !== null) {
      if (got === undefined || !re.test(got)) fail('header', want, got ?? null, `expected header ${name} to match ${want}, got ${shown}`);
    } else if (got !== want) {
      fail('header', want, got ?? null, `expected header ${name}: ${JSON.stringify(want)}, got ${shown}`);
    }
  }

  if (e.body !== undefined && !ex.body.includes(e.body)) {
    fail('body', e.body, clip(ex.body, BODY_EXCERPT_CHARS), `expected the body to contain ${JSON.stringify(e.body)}, got ${excerpt}`);
  }

  if (e.bodyRegex !== undefined) {
    const re = new RegExp(e.bodyRegex);
    if (!re.test(ex.body))
      fail('bodyRegex', e.bodyRegex, clip(ex.body, BODY_EXCERPT_CHARS), `expected the body to match /${e.bodyRegex}/, got ${excerpt}`);
  }

  if (e.json !== undefined && Object.keys(e.json).length > 0) {
    let doc: unknown;
    let parsed = true;
    try {
      doc = JSON.parse(ex.body);
    } catch {
      parsed = false;
    }
    if (!parsed) {
      fail('json', e.json, clip(ex.body, BODY_EXCERPT_CHARS), `expected a JSON body, got ${excerpt}`);
    } else {
      for (const [path, want] of Object.entries(e.json)) {
        const segments = parsePath(path);
        if (segments instanceof Error) {
          fail('json', want, null, `cannot read JSON path ${segments.message}; fix the gate`);
          continue;
        }
        const at = getPath(doc, segments);
        if (!at.found) fail('json', { [path]: want }, null, `expected ${path} = ${JSON.stringify(want)}, got nothing (no such path)`);
        else if (!isDeepStrictEqual(at.value, want))
          fail(
            'json',
            { [path]: want },
            { [path]: at.value },
            `expected ${path} = ${JSON.stringify(want)}, got ${clip(JSON.stringify(at.value) ?? 'undefined', BODY_EXCERPT_CHARS)}`,
          );
      }
    }
  }

  if (e.maxLatency !== undefined && ex.ms > e.maxLatency) {
    fail('maxLatency', e.maxLatency, Math.round(ex.ms), `expected a response within ${formatMs(e.maxLatency)}, took ${formatMs(ex.ms)}`);
  }
  return out;
}

/** `/.../flags` is a regular expression; anything else is an exact value (null). */
function asRegex(value: string): RegExp | Error | null {
  const m = /^\/(.*)\/([dgimsuyv]*)$/s.exec(value);
  if (m === null) return null;
  try {
    return new RegExp(m[1] ?? '', m[2]);
  } catch (err) {
    return err as Error;
  }
}
