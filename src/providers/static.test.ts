import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isProviderError } from './errors.ts';
import { StaticProviderImpl } from './static.ts';

const config = { kind: 'static' as const, blue: ['10.0.0.1:8080', '10.0.0.2:8080'], green: ['10.0.0.3:8080'] };

test('a static slot is provisioned with the addresses of the config, and stop forgets only the version', async () => {
  const provider = new StaticProviderImpl('web', config);
  assert.equal(provider.deployment('green'), null);
  const d = await provider.provision('green', '2.0.0');
  assert.deepEqual(d, { slot: 'green', version: '2.0.0', targets: ['10.0.0.3:8080'] });
  assert.deepEqual(provider.deployment('green'), d);
  d.targets.push('mutated');
  assert.deepEqual(provider.deployment('green')?.targets, ['10.0.0.3:8080']);
  await provider.stop('green');
  assert.equal(provider.deployment('green'), null);
  assert.deepEqual(provider.replicas('blue'), []);
});

test('a closed static provider refuses to provision, and an aborted signal is honoured', async () => {
  const provider = new StaticProviderImpl('web', config);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(provider.provision('blue', '1', { signal: ac.signal }), (err) =>
    isProviderError(err, 'CUTOVER_E_PROVISION_ABORTED'),
  );
  await provider.close();
  await assert.rejects(provider.provision('blue', '1'), (err) => isProviderError(err, 'CUTOVER_E_PROVIDER_CLOSED'));
});
