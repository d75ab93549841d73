// Property tests of the config schema (fast-check): random valid files are accepted with every
// value as written, random broken ones are refused with a ConfigError naming a path, and no input
// makes the loader throw anything else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ConfigError } from '../errors.ts';
import { formatDuration } from './duration.ts';
import { parseConfig } from './load.ts';
import type { Config, ServiceConfig } from './types.ts';

const FILE = '/srv/app/cutover.yaml';
/** Node timers wait at most this long; longer durations are refused on purpose. */
const MAX_TIMER = 2 ** 31 - 1;

const ms = (min = 1) => fc.integer({ min, max: MAX_TIMER });
const word = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,11}$/);
const path = fc.stringMatching(/^\/[A-Za-z0-9._~-]{0,12}$/);

/** One service as a user would write it, with the durations in ms beside it to compare. */
const serviceArb = fc.record({
  provider: fc.oneof(
    fc.record({
      kind: fc.constant('process' as const),
      command: fc.array(word, { minLength: 1, maxLength: 4 }),
      replicas: fc.integer({ min: 1, max: 1000 }),
    }),
    fc.record({ kind: fc.constant('static' as const), blue: fc.constant(['127.0.0.1:3001']), green: fc.constant(['127.0.0.1:3002']) }),
  ),
  drain: ms(0),
  health: fc.record({ path, interval: ms(), timeout: ms(), healthyThreshold: fc.integer({ min: 1, max: 100 }) }),
  shift: fc.oneof(
    fc.constant('instant' as const),
    fc.record({
      steps: fc.uniqueArray(fc.integer({ min: 1, max: 99 }), { maxLength: 4 }).map((s) => [...s.sort((a, b) => a - b), 100]),
      hold: ms(0),
    }),
  ),
  analysis: fc
    .record({ interval: ms(), extra: fc.integer({ min: 0, max: 1_000_000 }), max: fc.double({ min: 0, max: 1, noNaN: true }) })
    .map(({ interval, extra, max }) => ({ interval, window: Math.min(MAX_TIMER, interval + extra), max })),
  gates: fc.array(
    fc.oneof(
      fc.record({
        http: fc.record({
          requests: fc.array(fc.record({ path, status: fc.integer({ min: 100, max: 599 }) }), { minLength: 1, maxLength: 3 }),
        }),
      }),
      fc.record({ command: fc.record({ run: word, timeout: ms() }) }),
      fc.record({ load: fc.record({ rate: fc.integer({ min: 1, max: 10_000 }), duration: ms() }) }),
    ),
    { maxLength: 3 },
  ),
  standby: ms(0),
  approval: fc.constantFrom('auto' as const, 'manual' as const),
});
type ServiceInput = typeof serviceArb extends fc.Arbitrary<infer T> ? T : never;

const configArb = fc
  .record({
    services: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), serviceArb, { minKeys: 1, maxKeys: 3 }),
    ports: fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: 4, maxLength: 4 }),
  })
  .map(({ services, ports }) => ({ services, ports }));

/** The YAML a user would write for the generated values: durations as text. */
function yamlOf(services: Record<string, ServiceInput>, ports: number[]): Record<string, unknown> {
  const d = formatDuration;
  return {
    api: { listen: `127.0.0.1:${ports[3]}` },
    services: Object.fromEntries(
      Object.entries(services).map(([name, s], i) => [
        name,
        {
          listen: `127.0.0.1:${ports[i]}`,
          provider: s.provider,
          drain: d(s.drain),
          health: { ...s.health, interval: d(s.health.interval), timeout: d(s.health.timeout) },
          shift: s.shift === 'instant' ? 'instant' : { steps: s.shift.steps, hold: d(s.shift.hold) },
          analysis: {
            interval: d(s.analysis.interval),
            window: d(s.analysis.window),
            rules: [{ metric: 'error_rate', max: s.analysis.max }],
          },
          gates: s.gates.map((g) =>
            'http' in g
              ? { http: { requests: g.http.requests.map((r) => ({ path: r.path, expect: { status: r.status } })) } }
              : 'command' in g
                ? { command: { run: g.command.run, timeout: d(g.command.timeout) } }
                : { load: { rate: g.load.rate, duration: d(g.load.duration) } },
          ),
          standby: d(s.standby),
          approval: s.approval,
        },
      ]),
    ),
  };
}

/** Parses, and returns the ConfigError when it refuses; any other throw fails the property. */
function parse(text: string): Config | ConfigError {
  try {
    return parseConfig(text, FILE);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw new Error(`parseConfig threw something other than a ConfigError: ${String((err as Error)?.stack ?? err)}`);
  }
}

function assertRefused(r: ReturnType<typeof parse>, where: string): void {
  assert.ok(r instanceof ConfigError, `expected a refusal at ${where}`);
  assert.equal(r.code, 'CUTOVER_E_CONFIG_INVALID');
  assert.ok(r.problems.length > 0);
  for (const p of r.problems) assert.ok(typeof p.path === 'string' && p.path !== '' && p.message !== '', JSON.stringify(p));
  assert.ok(
    r.problems.some(
      (p) => p.path === where || p.path.startsWith(`${where}.`) || p.path.startsWith(`${where}[`) || p.path.startsWith(`${where} `),
    ),
    `a problem names ${where}: ${JSON.stringify(r.problems)}`,
  );
}

test('a random valid config is accepted, with every value (durations included) as it was written', () => {
  fc.assert(
    fc.property(configArb, ({ services, ports }) => {
      const r = parse(stringify(yamlOf(services, ports)));
      if (r instanceof ConfigError) assert.fail(JSON.stringify(r.problems));
      assert.deepEqual(Object.keys(r.services).sort(), Object.keys(services).sort());
      for (const [name, s] of Object.entries(services)) {
        const c: ServiceConfig = r.services[name]!;
        assert.equal(c.drain, s.drain);
        assert.equal(c.standby, s.standby);
        assert.equal(c.health.interval, s.health.interval);
        assert.equal(c.health.timeout, s.health.timeout);
        assert.equal(c.health.path, s.health.path);
        assert.equal(c.analysis.interval, s.analysis.interval);
        assert.equal(c.analysis.window, s.analysis.window);
        assert.equal(c.approval, s.approval);
        assert.equal(c.provider.kind, s.provider.kind);
        if (c.provider.kind === 'process' && s.provider.kind === 'process') {
          assert.deepEqual(c.provider.command, s.provider.command);
          assert.equal(c.provider.replicas, s.provider.replicas);
        }
        if (s.shift === 'instant') assert.equal(c.shift, 'instant');
        else assert.deepEqual(c.shift, { steps: s.shift.steps, hold: s.shift.hold });
        assert.deepEqual(
          c.gates.map((g) => Object.keys(g)[0]),
          s.gates.map((g) => Object.keys(g)[0]),
        );
      }
    }),
    { numRuns: 100 },
  );
});

/** Ways to break a valid config, each naming the path its refusal must name. */
const breakages: { where: (svc: string) => string; apply: (doc: any, svc: string, junk: unknown) => void; junk: fc.Arbitrary<unknown> }[] =
  [
    { where: () => 'bogus', apply: (doc, _s, j) => (doc.bogus = j), junk: fc.jsonValue() },
    { where: (s) => `services.${s}.bogus`, apply: (doc, s, j) => (doc.services[s].bogus = j), junk: fc.jsonValue() },
    { where: (s) => `services.${s}.health.bogus`, apply: (doc, s, j) => (doc.services[s].health.bogus = j), junk: fc.jsonValue() },
    {
      where: (s) => `services.${s}.listen`,
      apply: (doc, s, j) => (doc.services[s].listen = j),
      junk: fc.oneof(
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.string().filter((t) => !/^\S+:\d+$/.test(t)),
      ),
    },
    {
      where: (s) => `services.${s}.drain`,
      apply: (doc, s, j) => (doc.services[s].drain = j),
      junk: fc.oneof(fc.integer(), fc.constant('soon'), fc.constant('-5s'), fc.constant('10'), fc.array(fc.string())),
    },
    {
      where: (s) => `services.${s}.health.interval`,
      apply: (doc, s, j) => (doc.services[s].health.interval = j),
      junk: fc.constantFrom('0s', '0ms', 'fast', 1000, '99999999999s'),
    },
    {
      where: (s) => `services.${s}.shift`,
      apply: (doc, s, j) => (doc.services[s].shift = j),
      junk: fc.oneof(
        fc.constant('gradual'),
        fc.constant({ steps: [50, 10, 100] }),
        fc.constant({ steps: [10, 50] }),
        fc.constant({ steps: [] }),
        fc.constant({ steps: [10, 100], bogus: 1 }),
      ),
    },
    {
      where: (s) => `services.${s}.gates`,
      apply: (doc, s, j) => (doc.services[s].gates = [j]),
      junk: fc.oneof(
        fc.constant({}),
        fc.constant({ htpp: {} }),
        fc.constant({ command: { run: 'x' }, http: { requests: [{ path: '/' }] } }),
        fc.integer(),
      ),
    },
    {
      where: (s) => `services.${s}.provider`,
      apply: (doc, s, j) => (doc.services[s].provider = j),
      junk: fc.oneof(
        fc.constant({ kind: 'process', command: [] }),
        fc.constant({ kind: 'process', command: 'x', replicas: 0 }),
        fc.constant({ kind: 'static' }),
        fc.constant({ kind: 'teleport' }),
        fc.constant({ kind: 'static', blue: ['127.0.0.1:1'], hooks: { start: 'x' } }),
      ),
    },
  ];

test('a valid config broken in one place is refused with a ConfigError naming that place, and nothing else is thrown', () => {
  fc.assert(
    fc.property(
      configArb,
      fc.nat({ max: breakages.length - 1 }).chain((i) => fc.tuple(fc.constant(i), breakages[i]!.junk)),
      fc.nat(),
      ({ services, ports }, [which, junk], pick) => {
        const b = breakages[which]!;
        const doc = yamlOf(services, ports) as any;
        const names = Object.keys(doc.services);
        const svc = names[pick % names.length]!;
        b.apply(doc, svc, junk);
        assertRefused(parse(stringify(doc)), b.where(svc));
      },
    ),
    { numRuns: 200 },
  );
});

test('any YAML or JSON document at all is either a config or a ConfigError, never another exception', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.jsonValue().map((v) => stringify(v)),
        fc.string(),
        fc.string({ unit: 'binary' }),
      ),
      (text) => {
        parse(text);
      },
    ),
    { numRuns: 300 },
  );
  // Valid configs with random values dropped into random places: accepted or refused, never thrown.
  fc.assert(
    fc.property(configArb, fc.array(fc.tuple(fc.nat(), fc.jsonValue()), { maxLength: 4 }), ({ services, ports }, edits) => {
      const doc = yamlOf(services, ports) as any;
      for (const [n, value] of edits) {
        const objects: any[] = [];
        const walk = (v: any) => {
          if (v !== null && typeof v === 'object') {
            objects.push(v);
            for (const x of Object.values(v)) walk(x);
          }
        };
        walk(doc);
        const target = objects[n % objects.length];
        const keys = Object.keys(target);
        if (keys.length > 0) target[keys[n % keys.length]!] = value;
      }
      parse(stringify(doc));
    }),
    { numRuns: 300 },
  );
});
