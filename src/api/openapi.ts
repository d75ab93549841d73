// The OpenAPI 3.1 document at /api/v1/openapi.json, made from the route table and the same zod
// schemas that validate the bodies, so the two cannot drift apart.
import { z } from 'zod';
import { MAX_BODY } from './http.ts';
import { ErrorAnswer } from './schemas.ts';
import type { Route } from './routes.ts';

type Json = Record<string, unknown>;

function schemaOf(s: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _, ...rest } = z.toJSONSchema(s, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json;
  return rest;
}

const ERROR = { $ref: '#/components/schemas/Error' };
const errorAnswer = (description: string): Json => ({ description, content: { 'application/json': { schema: ERROR } } });

export function openApiDocument(routes: readonly Route[], version: string): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const names = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
    const status = String(r.status ?? 200);
    const ok: Json = r.stream
      ? {
          description: 'a stream of server-sent events; each `id` is the event seq (send it back as Last-Event-ID)',
          content: { 'text/event-stream': { schema: { type: 'string' } } },
        }
      : {
          description: 'done',
          content: { 'application/json': { schema: r.answer ? schemaOf(r.answer, 'output') : { type: ['object', 'array'] } } },
        };
    const responses: Json = {
      [status]: ok,
      '401': errorAnswer('no token, or an unknown or revoked one (CUTOVER_E_UNAUTHORIZED)'),
      '403': errorAnswer(`the token's role is below ${r.role} (CUTOVER_E_FORBIDDEN)`),
    };
    if (names.length > 0) responses['404'] = errorAnswer('no such service, release or token (CUTOVER_E_NOT_FOUND)');
    if (r.method !== 'GET') {
      responses['400'] = errorAnswer('malformed JSON or a body that does not match its schema (CUTOVER_E_BAD_REQUEST)');
      responses['409'] = errorAnswer(
        'the state does not allow it now, like a second release (CUTOVER_E_CONFLICT, CUTOVER_E_SLOT_UNHEALTHY)',
      );
      responses['413'] = errorAnswer(`a body over ${MAX_BODY} bytes (CUTOVER_E_BODY_TOO_LARGE)`);
    }
    const op: Json = {
      operationId: operationId(r),
      summary: r.summary,
      tags: [r.path.split('/')[3] ?? 'api'],
      'x-cutover-role': r.role,
      description: `Needs the ${r.role} role or higher (viewer < deployer < admin).${r.method !== 'GET' ? ' Written to the audit log.' : ''}`,
      parameters: names.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
      responses,
    };
    if (r.body) op.requestBody = { required: false, content: { 'application/json': { schema: schemaOf(r.body, 'input') } } };
    (paths[r.path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'cutover API',
      version,
      description:
        'Blue-green releases of HTTP services. Every call needs `Authorization: Bearer <token>`; roles are viewer (read), deployer (deploy, promote, abort, rollback) and admin (switch, tokens, everything). Errors are `{ "error": { "code", "message" } }`. Beside /api/v1: /metrics (Prometheus) and /healthz, without a token.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: "`cutover token create --role R`, the admin token in stateDir, or the daemon's CUTOVER_TOKEN",
        },
      },
      schemas: { Error: schemaOf(ErrorAnswer, 'output') },
    },
  };
}

function operationId(r: Route): string {
  const words = r.path
    .replace('/api/v1/', '')
    .split('/')
    .map((p) => (p.startsWith('{') ? `by-${p.slice(1, -1)}` : p));
  return [r.method.toLowerCase(), ...words].join('-').replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
}
