// The small HTTP pieces the API shares: JSON answers, bounded JSON bodies, validation with zod.
import type http from 'node:http';
import type { z } from 'zod';
import { CutoverError, badRequest } from '../errors.ts';

/** Request bodies are small JSON objects; anything larger is refused before it is parsed. */
export const MAX_BODY = 64 * 1024;

export function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export function sendError(res: http.ServerResponse, err: CutoverError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // A body that was refused half-read is not read further: the connection closes after the answer.
  if (err.status === 413) res.setHeader('connection', 'close');
  send(res, err.status, err.toJSON());
}

export async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw tooLarge();
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CutoverError(
      'CUTOVER_E_BAD_REQUEST',
      `request body is not valid JSON (${(err as Error).message}); send a JSON object with content-type application/json`,
      400,
    );
  }
}

function tooLarge(): CutoverError {
  return new CutoverError('CUTOVER_E_BODY_TOO_LARGE', `request body over ${MAX_BODY} bytes; API bodies are small JSON objects`, 413);
}

export function parseBody<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const msg = r.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
  throw badRequest(`invalid request body: ${msg}`);
}
