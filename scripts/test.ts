// `npm test`: the type check, then every unit test (src/**/*.test.ts, bench/**/*.test.ts) and integration
// test (test/**/*.test.ts). `npm test -- FILE...` runs only those.
import { spawnSync } from 'node:child_process';

const run = (cmd: string, args: string[]): number => {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  return r.status ?? 1;
};

const tsc = run('npx', ['--no-install', 'tsc', '--noEmit', '-p', '.']);
if (tsc !== 0) {
  process.stderr.write('typecheck failed\n');
  process.exit(tsc);
}
const extra = process.argv.slice(2);
const files = extra.length > 0 ? extra : ['src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'];
// Integration tests start real servers and load; two at a time keeps a 2-core machine honest.
// --test-force-exit: a file whose tests are done never holds the run hostage through a leftover handle.
process.exit(run(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=300000', '--test-force-exit', ...files]));
