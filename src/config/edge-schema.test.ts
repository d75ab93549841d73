import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError } from '../errors.ts';
import { parseConfig } from './load.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'cutover-edge-schema-'));
const FILE = path.join(dir, 'cutover.yaml');
writeFileSync(path.join(dir, 'app.pem'), 'x');
writeFileSync(path.join(dir, 'app.key'), 'x');

const svc = (name: string, extra: string, listen = '0.0.0.0:443') => `  ${name}:
    listen: ${listen}
    provider: { kind: static, blue: [127.0.0.1:3001] }
${extra
  .split('\n')
  .filter((l) => l !== '')
  .map((l) => `    ${l}`)
  .join('\n')}
`;
const file = (...services: string[]) => `services:\n${services.join('')}`;

function problems(text: string): { path: string; message: string }[] {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  return [];
}

describe('edge keys in cutover.yaml', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('two services on one TLS listener, told apart by hosts and path, validate and keep what was written', () => {
    const c = parseConfig(
      file(
        svc('app', 'hosts: [app.example.com, "*.app.example.com"]\ntls: { certificate: app.pem, key: app.key }'),
        svc('api', 'hosts: [app.example.com]\npathPrefix: /api\nstripPrefix: false\ntls: { certificate: app.pem, key: app.key }'),
      ),
      FILE,
    );
    assert.deepEqual(c.services.app?.hosts, ['app.example.com', '*.app.example.com']);
    assert.equal(c.services.app?.stripPrefix, true);
    assert.equal(c.services.api?.pathPrefix, '/api');
    assert.equal(c.services.api?.stripPrefix, false);
    assert.deepEqual(c.services.api?.tls, { certificate: path.join(dir, 'app.pem'), key: path.join(dir, 'app.key') });
  });

  it('a shared listener where a service names no host nor prefix is refused at its listen', () => {
    const found = problems(file(svc('app', 'hosts: [app.example.com]'), svc('api', '')));
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0]?.path, 'services.api.listen');
    assert.match(found[0]?.message ?? '', /add hosts/);
  });

  it('two services claiming the same host and prefix are refused with the path of the key', () => {
    const found = problems(file(svc('app', 'hosts: [app.example.com]'), svc('api', 'hosts: [api.example.com, app.example.com]')));
    assert.deepEqual(
      found.map((p) => p.path),
      ['services.api.hosts[1]'],
    );
    assert.match(found[0]?.message ?? '', /app already serves app\.example\.com at \//);
  });

  it('bad hosts, prefixes and missing certificate files are refused', () => {
    const found = problems(
      file(svc('app', 'hosts: ["App.Example.com", "a.*.b"]\npathPrefix: api\nworkers: 2\ntls: { certificate: missing.pem, key: app.key }')),
    );
    const paths = found.map((p) => p.path).sort();
    assert.deepEqual(paths, ['services.app.hosts[0]', 'services.app.hosts[1]', 'services.app.pathPrefix', 'services.app.tls.certificate']);
  });

  it('workers on an edge listener: with certificate files or ACME, one count for every service sharing it', () => {
    assert.deepEqual(problems(file(svc('app', 'hosts: [a.test]\nworkers: 2\ntls: { certificate: app.pem, key: app.key }'))), []);
    // One ACME client per service, in the controller; its workers load the files it writes.
    assert.deepEqual(problems(file(svc('app', 'hosts: [a.test]\nworkers: 2\ntls: { acme: { email: ops@a.test } }'))), []);
    // A shared listener's processes serve all of its services: one worker count for all of them.
    assert.deepEqual(problems(file(svc('app', 'hosts: [a.test]\nworkers: 2'), svc('api', 'hosts: [b.test]\nworkers: 2'))), []);
    const shared = problems(file(svc('app', 'hosts: [a.test]\nworkers: 2'), svc('api', 'hosts: [b.test]')));
    assert.deepEqual(
      shared.map((p) => p.path),
      ['services.api.workers'],
    );
    assert.match(
      shared[0]?.message ?? '',
      /services sharing .* run in the same router processes, and app has workers: 2; give api workers: 2 too/,
    );
  });

  it('a listener is TLS for all of its services or none, and has one preview header', () => {
    const found = problems(
      file(
        svc('app', 'hosts: [a.test]\ntls: { certificate: app.pem, key: app.key }'),
        svc('api', 'hosts: [b.test]\npreview: { header: x-other }'),
      ),
    );
    assert.deepEqual(found.map((p) => p.path).sort(), ['services.api.preview.header', 'services.api.tls']);
  });

  it('tls.acme takes an e-mail, defaults to Let’s Encrypt, keeps its state in stateDir and answers HTTP-01 on httpRedirect', () => {
    const c = parseConfig(
      `httpRedirect: 0.0.0.0:80\n${file(svc('app', 'hosts: [app.example.com]\ntls: { acme: { email: ops@example.com } }'))}`,
      FILE,
    );
    const app = c.services.app;
    assert.deepEqual(app?.tls, {
      acme: { email: 'ops@example.com', directory: 'https://acme-v02.api.letsencrypt.org/directory', renewBefore: 20 * 24 * 3600_000 },
    });
    assert.equal(app?.acmeStorage, path.join(dir, '.cutover', 'acme'));
    assert.equal(app?.httpRedirect, '0.0.0.0:80');
  });

  it('ACME without hosts, for a wildcard, with files too, or an httpRedirect without TLS are refused', () => {
    const found = problems(
      `httpRedirect: 0.0.0.0:80\n${file(
        svc('app', 'hosts: ["*.example.com"]\ntls: { acme: { email: ops@example.com } }'),
        svc('api', 'tls: { certificate: app.pem, key: app.key, acme: { email: nope } }', '0.0.0.0:8443'),
      )}`,
    );
    assert.deepEqual(found.map((p) => p.path).sort(), [
      'services.api.hosts',
      'services.api.tls.acme',
      'services.api.tls.acme.email',
      'services.app.hosts[0]',
    ]);
    const plain = problems(`httpRedirect: 0.0.0.0:80\n${file(svc('app', ''))}`);
    assert.deepEqual(
      plain.map((p) => p.path),
      ['httpRedirect'],
    );
  });

  it('services still may not share a listen with the API or a preview listener', () => {
    const found = problems(`api: { listen: 127.0.0.1:9900 }\n${file(svc('app', 'hosts: [a.test]', '127.0.0.1:9900'))}`);
    assert.equal(found[0]?.path, 'services.app.listen');
    assert.match(found[0]?.message ?? '', /clashes with api\.listen/);
  });
});
