import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRequestHead } from './heads.ts';
import { isHeadError, type RequestHead } from './http1.ts';
import { SlotPool, Target } from './pool.ts';
import { emptyChoice, NO_LIVE_SLOT, NO_RELEASE_IN_PREVIEW, NO_RELEASE_YET, type RoutingPolicy, route, sameSecret } from './routing.ts';
import { buildTable, emptySpec, type RouteSpec, type RouteTable } from './table.ts';

const policy: RoutingPolicy = { previewCookie: 'cutover-preview', stickyCookie: 'cutover-slot', stickyAttributes: 'Path=/; HttpOnly' };
const blue = new SlotPool('blue', [new Target('127.0.0.1:1', { maxIdle: 1, idleTimeout: 1 })]);
const green = new SlotPool('green', [new Target('127.0.0.1:2', { maxIdle: 1, idleTimeout: 1 })]);

function table(extra: Partial<RouteSpec>): RouteTable {
  return buildTable({ ...emptySpec('web'), generation: 2, live: 'blue', weights: { blue: 100, green: 0 }, ...extra }, blue, green);
}

function request(lines: string): RequestHead {
  const head = parseRequestHead(`GET / HTTP/1.1\r\nHost: a\r\n${lines}`, 100, 'x-cutover-preview');
  assert.ok(!isHeadError(head));
  return head;
}

/** Randomness from a list, so every draw of the policy is visible to the test. */
function draws(...values: number[]): () => number {
  return () => {
    const v = values.shift();
    assert.ok(v !== undefined, 'the policy drew more random numbers than expected');
    return v;
  };
}

const never = draws();

test('all traffic on one slot goes there without drawing a random number', () => {
  const c = route(table({}), request(''), policy, false, never, emptyChoice());
  assert.equal(c.pool, blue);
  assert.equal(c.setCookie, null);
  assert.equal(c.mirror, null);
});

test('the preview token in the header or in the exact cookie reaches the slot in preview; a wrong one the live slot', () => {
  const t = table({ preview: { slot: 'green', token: 'tok' } });
  assert.equal(route(t, request('X-Cutover-Preview: tok\r\n'), policy, false, never, emptyChoice()).pool, green);
  assert.equal(route(t, request('X-Cutover-Preview: nope\r\n'), policy, false, never, emptyChoice()).pool, blue);
  assert.equal(route(t, request('Cookie: a=1; cutover-preview=tok\r\n'), policy, false, never, emptyChoice()).pool, green);
  assert.equal(route(t, request('Cookie: xcutover-preview=tok\r\n'), policy, false, never, emptyChoice()).pool, blue);
  // The header wins over the cookie: a wrong header is not rescued by a right cookie.
  assert.equal(
    route(t, request('X-Cutover-Preview: no\r\nCookie: cutover-preview=tok\r\n'), policy, false, never, emptyChoice()).pool,
    blue,
  );
});

test('the preview listener sends everything to the slot in preview, and refuses when none is', () => {
  const withPreview = table({ preview: { slot: 'green', token: 'tok' } });
  assert.equal(route(withPreview, request(''), policy, true, never, emptyChoice()).pool, green);
  const c = route(table({}), request(''), policy, true, never, emptyChoice());
  assert.equal(c.pool, null);
  assert.equal(c.refusal, NO_RELEASE_IN_PREVIEW);
});

test('before the first release and with no weight anywhere the router refuses with the reason', () => {
  const none = route(buildTable(emptySpec('web'), blue, green), request(''), policy, false, never, emptyChoice());
  assert.deepEqual([none.pool, none.refusal], [null, NO_RELEASE_YET]);
  const zero = route(table({ weights: { blue: 0, green: 0 } }), request(''), policy, false, never, emptyChoice());
  assert.deepEqual([zero.pool, zero.refusal], [null, NO_LIVE_SLOT]);
});

test('a weighted split draws once per request and follows the weights', () => {
  const t = table({ weights: { blue: 90, green: 10 } });
  assert.equal(route(t, request(''), policy, false, draws(0.89), emptyChoice()).pool, blue);
  assert.equal(route(t, request(''), policy, false, draws(0.9), emptyChoice()).pool, green);
});

test('during a sticky shift a new client is pinned by a cookie, and a pinned client keeps its slot while it has weight', () => {
  const t = table({ weights: { blue: 50, green: 50 }, sticky: { key: 'r7' } });
  const first = route(t, request(''), policy, false, draws(0.7), emptyChoice());
  assert.equal(first.pool, green);
  assert.equal(first.setCookie, 'set-cookie: cutover-slot=r7.green; Path=/; HttpOnly\r\n');
  const again = route(t, request('Cookie: cutover-slot=r7.green\r\n'), policy, false, never, emptyChoice());
  assert.equal(again.pool, green);
  assert.equal(again.setCookie, null);
  // A cookie of another release, or for a slot that lost its weight, is drawn again.
  assert.equal(route(t, request('Cookie: cutover-slot=r6.blue\r\n'), policy, false, draws(0.1), emptyChoice()).pool, blue);
  const later = table({ weights: { blue: 100, green: 0 }, sticky: { key: 'r7' } });
  assert.equal(route(later, request('Cookie: cutover-slot=r7.green\r\n'), policy, false, never, emptyChoice()).pool, blue);
});

test('a share of live GET and HEAD requests without a body is mirrored to the other slot, never a request with a body', () => {
  const t = table({ mirror: { slot: 'green', share: 0.25 } });
  assert.equal(route(t, request(''), policy, false, draws(0.2), emptyChoice()).mirror, green);
  assert.equal(route(t, request(''), policy, false, draws(0.3), emptyChoice()).mirror, null);
  const post = parseRequestHead('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n', 100, '');
  assert.ok(!isHeadError(post));
  assert.equal(route(t, post, policy, false, never, emptyChoice()).mirror, null);
  // A request already going to the mirror slot (a preview) is not copied to itself.
  const both = table({ mirror: { slot: 'green', share: 1 }, preview: { slot: 'green', token: 'tok' } });
  assert.equal(route(both, request('X-Cutover-Preview: tok\r\n'), policy, false, never, emptyChoice()).mirror, null);
});

test('a choice reused across requests carries nothing over from the previous one', () => {
  const out = emptyChoice();
  const shift = table({ weights: { blue: 50, green: 50 }, sticky: { key: 'r7' }, mirror: { slot: 'green', share: 1 } });
  route(shift, request(''), policy, false, draws(0.1, 0), out);
  assert.notEqual(out.setCookie, null);
  assert.equal(out.mirror, green);
  route(table({}), request(''), policy, false, never, out);
  assert.deepEqual([out.pool, out.setCookie, out.mirror, out.refusal], [blue, null, null, '']);
});

test('the preview token comparison is exact: prefixes, extensions and the empty token never match', () => {
  assert.equal(sameSecret('s3cret', 's3cret'), true);
  for (const wrong of ['', 's3cre', 's3crett', 'S3cret', 's3creT', 'x'.repeat(6)]) assert.equal(sameSecret(wrong, 's3cret'), false, wrong);
  assert.equal(sameSecret('', ''), false);
});
