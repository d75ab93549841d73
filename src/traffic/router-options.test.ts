import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { parseConfig } from '../config/load.ts';
import { ConfigError } from '../errors.ts';
import { routerOptions } from './router-options.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'cutover-router-options-'));
const FILE = path.join(dir, 'cutover.yaml');
writeFileSync(path.join(dir, 'app.pem'), 'x');
writeFileSync(path.join(dir, 'app.key'), 'x');
after(() => rmSync(dir, { recursive: true, force: true }));

function attributes(extra: string, listen = '127.0.0.1:8080'): string {
  const cfg = parseConfig(
    `services:\n  web:\n    listen: ${listen}\n    provider: { kind: static, blue: [127.0.0.1:3001] }\n${extra}`,
    FILE,
  );
  return routerOptions(cfg.services.web!).stickyAttributes;
}

const TLS = '    hosts: [app.test]\n    tls: { certificate: app.pem, key: app.key }\n';

test('the sticky cookie is Secure by default on a service with tls, and not on plain HTTP', () => {
  assert.equal(attributes(''), 'Path=/; HttpOnly; SameSite=Lax');
  assert.equal(attributes(TLS, '127.0.0.1:8443'), 'Path=/; HttpOnly; SameSite=Lax; Secure');
});

test('sticky attributes written in the config are sent as written, with tls or without (a TLS proxy in front)', () => {
  assert.equal(
    attributes(`${TLS}    sticky: { attributes: "Path=/shop; SameSite=Strict" }\n`, '127.0.0.1:8443'),
    'Path=/shop; SameSite=Strict',
  );
  assert.equal(attributes('    sticky: { attributes: "Path=/; Secure; HttpOnly" }\n'), 'Path=/; Secure; HttpOnly');
});

test('validate refuses sticky attributes that would break the Set-Cookie line', () => {
  assert.throws(
    () => attributes('    sticky: { attributes: "Path=/\\r\\nX-Evil: 1" }\n'),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.problems.some((p) => p.path === 'services.web.sticky.attributes' && /printable ASCII on one line/.test(p.message)),
  );
});
