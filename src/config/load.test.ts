import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, CutoverError, type ConfigProblem } from '../errors.ts';
import { loadConfig, parseConfig } from './load.ts';
import type { ServiceConfig } from './types.ts';

const FILE = '/srv/app/cutover.yaml';

const web = (extra = '') => `services:
  web:
    listen: 127.0.0.1:8080
    provider: { command: node app.js }
${extra}`;

function problems(text: string): ConfigProblem[] {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'CUTOVER_E_CONFIG_INVALID');
    return err.problems;
  }
  assert.fail('expected the config to be refused');
}

/** The one problem at `path`; fails listing all problems when there is none. */
function problemAt(text: string, path: string): ConfigProblem {
  const all = problems(text);
  const found = all.find((p) => p.path === path);
  assert.ok(found, `no problem at ${path}; got:\n${all.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`);
  return found;
}

test('a minimal service gets every documented default', () => {
  const config = parseConfig(web(), FILE);
  assert.equal(config.file, FILE);
  assert.equal(config.dir, '/srv/app');
  assert.deepEqual(config.api, { listen: '127.0.0.1:9900', hosts: [], metricsToken: false });
  assert.equal(config.stateDir, '/srv/app/.cutover');
  const expected: ServiceConfig = {
    name: 'web',
    listen: '127.0.0.1:8080',
    hosts: [],
    stripPrefix: true,
    workers: 1,
    drain: 30_000,
    timeouts: { connect: 5000, headers: 10_000, idle: 60_000, response: 60_000, upstreamIdle: 4000, body: 30_000 },
    limits: { maxHeaderBytes: 16384, maxHeaders: 100, maxConnections: 0 },
    via: false,
    trustedProxies: [],
    buffer: { requests: false, maxMemory: 1024 * 1024 },
    compression: {
      enabled: false,
      types: [
        'text/*',
        'application/json',
        'application/javascript',
        'application/xml',
        'application/wasm',
        'image/svg+xml',
        'application/manifest+json',
      ],
      minSize: 1024,
      encodings: ['br', 'zstd', 'gzip'],
    },
    errorPages: {},
    maintenance: { retryAfter: 300_000 },
    provider: { kind: 'process', command: ['node', 'app.js'], replicas: 1, cwd: '/srv/app', env: {}, stopGrace: 10_000 },
    traffic: { kind: 'router' },
    health: { path: '/', interval: 1000, timeout: 1000, healthyThreshold: 1, unhealthyThreshold: 2, headers: {} },
    gates: [],
    approval: 'auto',
    onTimeout: 'abort',
    onProgressDeadline: 'flag',
    shift: 'instant',
    parity: { strict: false },
    // No analysis section: a short watch that goes on (with a warning) when there is nothing to judge.
    analysis: {
      interval: 100,
      window: 30_000,
      rules: [{ metric: 'error_rate', max: 0.01 }],
      minSamples: 20,
      failureLimit: 2,
      inconclusive: 'pass',
      watchStandby: true,
      watchInterval: 1000,
      retryOnStandby: false,
      retryBudget: 100,
    },
    standby: 1_800_000,
    preview: { header: 'x-cutover-preview' },
    sticky: { cookie: 'cutover-slot', attributes: 'Path=/; HttpOnly; SameSite=Lax' },
    hooks: {},
  };
  assert.deepEqual(config.services.web, expected);
});

test('an analysis section, even an empty one, keeps the 5-minute window that holds on too little traffic', () => {
  const quiet = parseConfig(web(), FILE).services.web!.analysis;
  assert.deepEqual([quiet.window, quiet.inconclusive], [30_000, 'pass'], 'no section: a short watch that goes on');
  const written = parseConfig(web('    analysis: {}\n'), FILE).services.web!.analysis;
  assert.deepEqual([written.window, written.inconclusive], [300_000, 'hold']);
  const rules = parseConfig(web('    analysis: { rules: [{ metric: error_rate, max: 0.05 }] }\n'), FILE).services.web!.analysis;
  assert.deepEqual([rules.window, rules.inconclusive], [300_000, 'hold']);
});

test('provider.cwd defaults to the folder of the config file', () => {
  const provider = parseConfig(web(), FILE).services.web!.provider;
  assert.equal(provider.kind === 'process' && provider.cwd, '/srv/app');
});

test('relative paths resolve against the folder of the config file', () => {
  const config = parseConfig(
    `stateDir: ../state
services:
  web:
    listen: 127.0.0.1:8080
    provider: { command: [node, app.js], cwd: app }
    migrations: { lint: db/expand/*.sql }
  api:
    listen: 127.0.0.1:8081
    provider: { command: node api.js, cwd: /opt/api }
`,
    FILE,
  );
  assert.equal(config.stateDir, '/srv/state');
  const provider = config.services.web?.provider;
  assert.equal(provider?.kind === 'process' && provider.cwd, '/srv/app/app');
  assert.equal(config.services.web?.migrations?.lint, '/srv/app/db/expand/*.sql');
  const api = config.services.api?.provider;
  assert.equal(api?.kind === 'process' && api.cwd, '/opt/api');
});

test('a command written as one string is split on whitespace', () => {
  const config = parseConfig(web().replace('node app.js', "'node  server.js --port {port}'"), FILE);
  const provider = config.services.web?.provider;
  assert.deepEqual(provider?.kind === 'process' && provider.command, ['node', 'server.js', '--port', '{port}']);
});

test('every service is named by its key', () => {
  const config = parseConfig(`${web()}  checkout-2:\n    listen: 127.0.0.1:8081\n    provider: { command: x }\n`, FILE);
  assert.deepEqual(Object.keys(config.services), ['web', 'checkout-2']);
  assert.equal(config.services['checkout-2']?.name, 'checkout-2');
});

test('a static provider needs blue addresses and may leave green empty', () => {
  const config = parseConfig(
    `services:\n  web:\n    listen: 127.0.0.1:8080\n    provider: { kind: static, blue: ['127.0.0.1:3001', '[::1]:3002'] }\n`,
    FILE,
  );
  assert.deepEqual(config.services.web?.provider, { kind: 'static', blue: ['127.0.0.1:3001', '[::1]:3002'], green: [] });
});

test('steps, gates, approval and rules are read with their units', () => {
  const config = parseConfig(
    web(`    shift: { steps: [10, 50, 100] }
    approval: manual
    approvalTimeout: 1h
    onTimeout: promote
    gates:
      - http: { requests: [{ method: post, path: /orders, body: '{}', expect: { status: 201, maxLatency: 200ms } }], timeout: 30s }
      - load: { rate: 50, duration: 1m }
      - mirror: { share: 0.1, duration: 5m }
    analysis:
      rules:
        - { metric: p50, max: 1s, min: 1ms }
        - { metric: prometheus, query: 'sum(rate(errors[1m]))', max: 5 }
      prometheus: { url: 'http://127.0.0.1:9090' }
`),
    FILE,
  );
  const s = config.services.web as ServiceConfig;
  assert.deepEqual(s.shift, { steps: [10, 50, 100], hold: 30_000 });
  assert.equal(s.approval, 'manual');
  assert.equal(s.approvalTimeout, 3_600_000);
  assert.equal(s.onTimeout, 'promote');
  assert.deepEqual(s.gates[0], {
    http: {
      requests: [{ method: 'POST', path: '/orders', headers: {}, body: '{}', expect: { status: 201, maxLatency: 200 } }],
      timeout: 30_000,
    },
  });
  assert.deepEqual(s.gates[1], { load: { rate: 50, duration: 60_000, connections: 10, maxErrorRate: 0.01 } });
  assert.deepEqual(s.gates[2], { mirror: { share: 0.1, duration: 300_000, maxErrorRateDelta: 0.01 } });
  assert.deepEqual(s.analysis.rules, [
    { metric: 'p50', max: 1000, min: 1 },
    { metric: 'prometheus', query: 'sum(rate(errors[1m]))', max: 5 },
  ]);
});

test('environment values written as numbers or booleans become strings', () => {
  const config = parseConfig(
    web().replace('{ command: node app.js }', '{ command: node app.js, env: { PORT_HINT: 3000, DEBUG: true, NAME: x } }'),
    FILE,
  );
  const provider = config.services.web?.provider;
  assert.deepEqual(provider?.kind === 'process' && provider.env, { PORT_HINT: '3000', DEBUG: 'true', NAME: 'x' });
});

// Each invalid file is refused with a problem at the path that is wrong, saying what to write instead.
const invalid: { sentence: string; text: string; path: string; message: RegExp }[] = [
  {
    sentence: 'an unknown top-level key is refused and the allowed keys are listed',
    text: `${web()}colour: blue\n`,
    path: 'colour',
    message: /unknown key `colour`; remove it \(keys allowed here: .*api, httpRedirect, groups, stateDir, services\)/,
  },
  {
    sentence: 'a misspelt key gets a suggestion',
    text: web('    health: { path: /healthz, intervall: 1s }\n'),
    path: 'services.web.health.intervall',
    message: /did you mean `interval`\?/,
  },
  {
    sentence: 'a misspelt top-level key gets a suggestion',
    text: web().replace('services:', 'servics:'),
    path: 'servics',
    message: /did you mean `services`\?/,
  },
  {
    sentence: 'a string where a number belongs is named with what was expected',
    text: web('    workers: two\n'),
    path: 'services.web.workers',
    message: /expected a number, got "two"/,
  },
  {
    sentence: 'a fractional count is refused',
    text: web('    limits: { maxHeaders: 1.5 }\n'),
    path: 'services.web.limits.maxHeaders',
    message: /expected a whole number/,
  },
  {
    sentence: 'yes is not a boolean in YAML 1.2 and is refused',
    text: web('    via: yes\n'),
    path: 'services.web.via',
    message: /expected true or false, got "yes"/,
  },
  {
    sentence: 'a list where a mapping belongs is refused',
    text: web('    health: [/healthz]\n'),
    path: 'services.web.health',
    message: /expected a mapping, got a list/,
  },
  {
    sentence: 'a bare number as a duration asks for a unit',
    text: web('    drain: 30\n'),
    path: 'services.web.drain',
    message: /write a duration with its unit, like 30s or 30ms/,
  },
  {
    sentence: 'a duration with an unknown unit is refused',
    text: web('    standby: 2 days\n'),
    path: 'services.web.standby',
    message: /like 30s, 250ms or 1m30s/,
  },
  {
    sentence: 'a zero timeout is refused',
    text: web('    timeouts: { connect: 0s }\n'),
    path: 'services.web.timeouts.connect',
    message: /too short; write at least 1ms/,
  },
  {
    sentence: 'a latency rule with a bare number asks for a unit',
    text: web('    analysis: { rules: [{ metric: p99, max: 500 }] }\n'),
    path: 'services.web.analysis.rules[0].max',
    message: /write a duration with its unit/,
  },
  {
    sentence: 'a listen address without a host is refused',
    text: web().replace('127.0.0.1:8080', "':8080'"),
    path: 'services.web.listen',
    message: /has no host; write 0.0.0.0:8080/,
  },
  {
    sentence: 'a bare port as a listen address is refused',
    text: web().replace('127.0.0.1:8080', '8080'),
    path: 'services.web.listen',
    message: /write host:port/,
  },
  {
    sentence: 'a listen port out of range is refused',
    text: web().replace('127.0.0.1:8080', '127.0.0.1:70000'),
    path: 'services.web.listen',
    message: /use a port from 1 to 65535/,
  },
  {
    sentence: 'an IPv6 listen address without brackets is refused',
    text: web().replace('127.0.0.1:8080', "'::1:8080'"),
    path: 'services.web.listen',
    message: /brackets/,
  },
  {
    sentence: 'two services on one address are refused unless each names hosts or pathPrefix',
    text: `${web()}  api:\n    listen: 127.0.0.1:8080\n    provider: { command: x }\n`,
    path: 'services.api.listen',
    message: /share 127\.0\.0\.1:8080.*add hosts/,
  },
  {
    sentence: 'a service on the API address is refused',
    text: web().replace('127.0.0.1:8080', '127.0.0.1:9900'),
    path: 'services.web.listen',
    message: /clashes with api\.listen/,
  },
  {
    sentence: 'a wildcard listener clashes with a specific host on the same port',
    text: `${web()}  api:\n    listen: 0.0.0.0:8080\n    provider: { command: x }\n`,
    path: 'services.api.listen',
    message: /clashes with services\.web\.listen/,
  },
  {
    sentence: 'a preview listener on a service address is refused',
    text: web('    preview: { listen: 127.0.0.1:8080 }\n'),
    path: 'services.web.preview.listen',
    message: /clashes with services\.web\.listen/,
  },
  {
    sentence: 'a service name with capitals is refused',
    text: web().replace('  web:', '  Web:'),
    path: 'services.Web',
    message: /must start with a lowercase letter/,
  },
  {
    sentence: 'a service name with underscores is refused',
    text: web().replace('  web:', '  my_web:'),
    path: 'services.my_web',
    message: /hold only a-z, 0-9 and -/,
  },
  {
    sentence: 'steps that go down are refused',
    text: web('    shift: { steps: [50, 10, 100] }\n'),
    path: 'services.web.shift.steps[1]',
    message: /steps must go up/,
  },
  {
    sentence: 'steps that do not end at 100 are refused',
    text: web('    shift: { steps: [10, 50] }\n'),
    path: 'services.web.shift.steps',
    message: /the last step must be 100/,
  },
  {
    sentence: 'a step above 100 is refused',
    text: web('    shift: { steps: [10, 150] }\n'),
    path: 'services.web.shift.steps[1]',
    message: /at most 100/,
  },
  {
    sentence: 'a fractional step is refused',
    text: web('    shift: { steps: [10.5, 100] }\n'),
    path: 'services.web.shift.steps[0]',
    message: /whole number/,
  },
  {
    sentence: 'an unknown shift mode is refused with the allowed forms',
    text: web('    shift: gradual\n'),
    path: 'services.web.shift',
    message: /expected instant, or steps like/,
  },
  {
    sentence: 'a static provider with no blue address is refused',
    text: web().replace('{ command: node app.js }', '{ kind: static, blue: [], green: [] }'),
    path: 'services.web.provider.blue',
    message: /blue needs at least one address/,
  },
  {
    sentence: 'a static target that is not host:port is refused',
    text: web().replace('{ command: node app.js }', '{ kind: static, blue: [localhost] }'),
    path: 'services.web.provider.blue[0]',
    message: /has no port/,
  },
  {
    sentence: 'an unknown provider kind gets a suggestion',
    text: web().replace('{ command: node app.js }', '{ kind: statc, blue: [a:1] }'),
    path: 'services.web.provider.kind',
    message: /expected one of process, static or kubernetes, got "statc"; did you mean `static`\?/,
  },
  {
    sentence: 'a process provider without a command is refused',
    text: web().replace('{ command: node app.js }', '{ replicas: 2 }'),
    path: 'services.web.provider.command',
    message: /required but missing/,
  },
  {
    sentence: 'a command list with a number in it is refused',
    text: web().replace('{ command: node app.js }', '{ command: [node, 3] }'),
    path: 'services.web.provider.command[1]',
    message: /expected a string, got the number 3/,
  },
  {
    sentence: 'a gate with two kinds is refused',
    text: web('    gates:\n      - { command: { run: x }, load: { rate: 1, duration: 1s } }\n'),
    path: 'services.web.gates[0]',
    message: /exactly one kind, this one has command and load/,
  },
  {
    sentence: 'an empty gate is refused',
    text: web('    gates: [{}]\n'),
    path: 'services.web.gates[0]',
    message: /a gate needs one of http, command, load, mirror/,
  },
  {
    sentence: 'a misspelt gate kind gets a suggestion',
    text: web('    gates: [{ htpp: { requests: [{ path: / }] } }]\n'),
    path: 'services.web.gates[0].htpp',
    message: /did you mean `http`\?/,
  },
  {
    sentence: 'approvalTimeout with automatic approval is refused',
    text: web('    approvalTimeout: 1h\n'),
    path: 'services.web.approvalTimeout',
    message: /only applies with approval: manual/,
  },
  {
    sentence: 'a misspelt approval value gets a suggestion',
    text: web('    approval: manuel\n'),
    path: 'services.web.approval',
    message: /expected auto or manual, got "manuel"; did you mean `manual`\?/,
  },
  {
    sentence: 'an error rate above 1 is refused',
    text: web('    analysis: { rules: [{ metric: error_rate, max: 5 }] }\n'),
    path: 'services.web.analysis.rules[0].max',
    message: /a fraction from 0 to 1/,
  },
  {
    sentence: 'a rule without any bound is refused',
    text: web('    analysis: { rules: [{ metric: p99 }] }\n'),
    path: 'services.web.analysis.rules[0]',
    message: /needs a bound: max, min or baseline/,
  },
  {
    sentence: 'a rule whose min is above its max is refused',
    text: web('    analysis: { rules: [{ metric: p99, min: 2s, max: 1s }] }\n'),
    path: 'services.web.analysis.rules[0].min',
    message: /min is above max/,
  },
  {
    sentence: 'a prometheus rule without a prometheus url is refused',
    text: web('    analysis: { rules: [{ metric: prometheus, query: up, min: 1 }] }\n'),
    path: 'services.web.analysis.rules[0].metric',
    message: /needs analysis\.prometheus\.url/,
  },
  {
    sentence: 'a health path without a leading slash is refused',
    text: web('    health: { path: healthz }\n'),
    path: 'services.web.health.path',
    message: /starting with \/, like \/healthz/,
  },
  {
    sentence: 'an invalid preview header name is refused',
    text: web("    preview: { header: 'x preview' }\n"),
    path: 'services.web.preview.header',
    message: /not a valid header name/,
  },
  {
    sentence: 'a file without services is refused',
    text: 'api: { listen: 127.0.0.1:9900 }\n',
    path: 'services',
    message: /required but missing/,
  },
  {
    sentence: 'an empty services mapping is refused',
    text: 'services: {}\n',
    path: 'services',
    message: /no services are defined; describe at least one service/,
  },
  { sentence: 'services with no value is refused', text: 'services:\n', path: 'services', message: /no services are defined/ },
  { sentence: 'an empty file is refused', text: '', path: '(file)', message: /the file is empty; describe at least one service/ },
  { sentence: 'a file of only comments is refused as empty', text: '# nothing yet\n', path: '(file)', message: /the file is empty/ },
  {
    sentence: 'a file that is a list is refused',
    text: '- web\n',
    path: '(file)',
    message: /expected a mapping with services: at the top, got a list/,
  },
  {
    sentence: 'a YAML syntax error is named by line and column',
    text: 'services:\n  web:\n    listen: 127.0.0.1:8080\n   provider: x\n',
    path: 'line 4:1',
    message: /same column/,
  },
  {
    sentence: 'a duplicate key is named by line and column',
    text: `${web()}    listen: 127.0.0.1:8081\n`,
    path: 'line 5:5',
    message: /keep one/,
  },
  { sentence: 'tabs used as indentation are refused', text: 'services:\n\tweb: {}\n', path: 'line 2:1', message: /indent with spaces/ },
  {
    sentence: 'more than one YAML document is refused',
    text: `${web()}---\n${web()}`,
    path: 'line 5:1',
    message: /more than one YAML document/,
  },
];

for (const c of invalid) {
  test(c.sentence, () => {
    assert.match(problemAt(c.text, c.path).message, c.message);
  });
}

test('every problem in a file is listed at once, in file order, with its line', () => {
  const all = problems(`services:
  web:
    listen: 8080
    drain: 30
    provider: { kind: static, blue: [] }
    colour: blue
  api:
    listen: 127.0.0.1:9900
    provider: { command: [] }
`);
  assert.deepEqual(
    all.map((p) => p.path),
    [
      'services.web.listen',
      'services.web.drain',
      'services.web.provider.blue',
      'services.web.colour',
      'services.api.listen',
      'services.api.provider.command',
    ],
  );
  assert.match(all[0]?.message ?? '', /\(line 3, column 13\)$/);
  assert.match(all[3]?.message ?? '', /\(line 6, column 5\)$/);
  for (const p of all) assert.doesNotMatch(p.message, /\n/);
});

test('a problem in a misnamed service is still reported', () => {
  const all = problems('services:\n  Web:\n    listen: 8080\n    provider: { command: x }\n');
  assert.deepEqual(
    all.map((p) => p.path),
    ['services.Web', 'services.Web.listen'],
  );
});

test('the error message says how many problems and how to check again', () => {
  try {
    parseConfig('services: {}\n', 'my.yaml');
    assert.fail('expected a ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.file, 'my.yaml');
    assert.equal(err.message, 'my.yaml: 1 problem; fix it and run `cutover validate -c my.yaml`');
  }
});

test('loading a missing file says which path and how to fix it', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'cutover-config-'));
  try {
    const missing = path.join(dir, 'nope.yaml');
    await assert.rejects(loadConfig(missing), (err: unknown) => {
      assert.ok(err instanceof CutoverError);
      assert.equal(err.code, 'CUTOVER_E_CONFIG_NOT_FOUND');
      assert.ok(err.message.includes(missing));
      assert.match(err.message, /pass the right one with -c FILE/);
      return true;
    });
    await assert.rejects(loadConfig(dir), /is a folder, not a config file/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('loading a file resolves its paths against its own folder', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'cutover-config-'));
  try {
    const file = path.join(dir, 'cutover.yaml');
    await writeFile(file, web());
    const config = await loadConfig(file);
    assert.equal(config.file, file);
    assert.equal(config.stateDir, path.join(dir, '.cutover'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
