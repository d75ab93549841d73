// Property tests of the API's request bodies (fast-check): random valid bodies are accepted and
// come back as sent, random invalid ones are refused with CUTOVER_E_BAD_REQUEST (400), and no body,
// however broken its bytes, makes reading or parsing throw anything but a coded error.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import type http from 'node:http';
import { test } from 'node:test';
import fc from 'fast-check';
import type { z } from 'zod';
import { CutoverError } from '../errors.ts';
import { MAX_BODY, parseBody, readJson } from './http.ts';
import { ActionBody, PromoteBody, ReleaseBody, SwitchBody, TokenBody } from './schemas.ts';

const reason = fc.string({ maxLength: 500 });
const VALID: { name: string; schema: z.ZodType; arb: fc.Arbitrary<Record<string, unknown>> }[] = [
  { name: 'release', schema: ReleaseBody, arb: fc.record({ version: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/) }) },
  { name: 'action', schema: ActionBody, arb: fc.record({ reason }, { requiredKeys: [] }) },
  { name: 'promote', schema: PromoteBody, arb: fc.record({ full: fc.boolean() }, { requiredKeys: [] }) },
  {
    name: 'switch',
    schema: SwitchBody,
    arb: fc.record({ slot: fc.constantFrom('blue', 'green'), force: fc.boolean(), reason }, { requiredKeys: ['slot'] }),
  },
  {
    name: 'token',
    schema: TokenBody,
    arb: fc.record(
      { role: fc.constantFrom('viewer', 'deployer', 'admin'), name: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/) },
      { requiredKeys: ['role'] },
    ),
  },
];

/** Returns what parseBody returns, or the coded error; anything else thrown fails the property. */
function attempt(schema: z.ZodType, value: unknown): { ok: true; value: unknown } | { ok: false; err: CutoverError } {
  try {
    return { ok: true, value: parseBody(schema, value) };
  } catch (err) {
    if (err instanceof CutoverError) return { ok: false, err };
    throw new Error(`parseBody threw something other than a coded error: ${String(err)}`);
  }
}

function refused(r: ReturnType<typeof attempt>): void {
  assert.equal(r.ok, false, `accepted ${JSON.stringify(r)}`);
  if (r.ok) return;
  assert.equal(r.err.code, 'CUTOVER_E_BAD_REQUEST');
  assert.equal(r.err.status, 400);
  assert.match(r.err.message, /^invalid request body: /);
}

test('every random valid body is accepted and comes back as it was sent over the wire', () => {
  for (const { name, schema, arb } of VALID) {
    fc.assert(
      fc.property(arb, (body) => {
        const sent = JSON.parse(JSON.stringify(body));
        const r = attempt(schema, sent);
        assert.ok(r.ok, `${name}: ${r.ok ? '' : r.err.message}`);
        assert.deepEqual(r.value, JSON.parse(JSON.stringify(body)));
      }),
      { numRuns: 200 },
    );
  }
});

test('a valid body with an unknown field, a wrong type or a value out of range is refused with a 400 naming the field', () => {
  const junk = fc.jsonValue();
  for (const { name, schema, arb } of VALID) {
    fc.assert(
      fc.property(arb, fc.stringMatching(/^[a-z]{1,12}$/), junk, (body, key, value) => {
        if (key in (schema as z.ZodObject).shape) return;
        const r = attempt(schema, { ...body, [key]: value });
        refused(r);
        if (!r.ok) assert.ok(r.err.message.includes(key) || r.err.message.includes('(body)'), `${name}: ${r.err.message}`);
      }),
      { numRuns: 100 },
    );
  }
  const wrong: [z.ZodType, string, fc.Arbitrary<unknown>][] = [
    [
      ReleaseBody,
      'version',
      fc.oneof(fc.integer(), fc.constant(''), fc.constant('../etc'), fc.string({ minLength: 65 }), fc.constant(null)),
    ],
    [SwitchBody, 'slot', fc.oneof(fc.constant('red'), fc.integer(), fc.constant(null), fc.constant(['blue']))],
    [SwitchBody, 'force', fc.oneof(fc.constant('yes'), fc.integer())],
    [ActionBody, 'reason', fc.oneof(fc.integer(), fc.string({ minLength: 501, maxLength: 600 }))],
    [PromoteBody, 'full', fc.oneof(fc.constant('true'), fc.integer())],
    [TokenBody, 'role', fc.oneof(fc.constant('root'), fc.constant(''), fc.integer())],
    [TokenBody, 'name', fc.oneof(fc.constant(''), fc.constant('a b'), fc.string({ minLength: 65, maxLength: 80 }))],
  ];
  for (const [schema, field, bad] of wrong) {
    fc.assert(
      fc.property(bad, (value) => {
        const base = field === 'slot' || field === 'force' ? { slot: 'blue' } : field === 'name' ? { role: 'viewer' } : {};
        const r = attempt(schema, { ...base, [field]: value });
        refused(r);
        if (!r.ok) assert.ok(r.err.message.includes(field), r.err.message);
      }),
      { numRuns: 50 },
    );
  }
});

test('any JSON value at all is accepted or refused with a coded 400, never thrown past', () => {
  for (const { schema } of VALID) {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const r = attempt(schema, value);
        if (!r.ok) refused(r);
      }),
      { numRuns: 300 },
    );
  }
});

/** A request as the API server sees it: headers and the body's bytes, in the chunks given. */
function request(chunks: Buffer[], headers: http.IncomingHttpHeaders = {}): http.IncomingMessage {
  return Object.assign(Readable.from(chunks), { headers }) as unknown as http.IncomingMessage;
}

test('any bytes as a body, in any chunks, are JSON or a coded 400 or 413, and a body over the limit is refused', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), async (parts) => {
      try {
        await readJson(request(parts.map((p) => Buffer.from(p))));
      } catch (err) {
        assert.ok(err instanceof CutoverError, String(err));
        assert.equal(err.status, 400);
        assert.equal(err.code, 'CUTOVER_E_BAD_REQUEST');
      }
    }),
    { numRuns: 300 },
  );
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: MAX_BODY + 1, max: 4 * MAX_BODY }), fc.boolean(), async (size, declared) => {
      const body = Buffer.alloc(size, 0x20);
      const headers = declared ? { 'content-length': String(size) } : {};
      await assert.rejects(readJson(request([body.subarray(0, size >> 1), body.subarray(size >> 1)], headers)), (err: CutoverError) => {
        assert.equal(err.code, 'CUTOVER_E_BODY_TOO_LARGE');
        assert.equal(err.status, 413);
        return true;
      });
    }),
    { numRuns: 20 },
  );
});
