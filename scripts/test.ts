// `npm test`: the type check and the linter (Biome), then every unit test (src/**/*.test.ts, bench/**/*.test.ts) and integration
// test (test/**/*.test.ts). `npm test -- FILE...` runs only those.
import { spawnSync } from 'node:child_process';

const run = (cmd: string, args: string[], timeout?: number): number => {
  const r = spawnSync(cmd, args, { stdio: 'inherit', timeout, killSignal: 'SIGKILL' });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT')
    process.stderr.write(`npm test: stopped after ${timeout! / 60000} minutes; a test file did not finish\n`);
  return r.status ?? 1;
};

const tsc = run('npx', ['--no-install', 'tsc', '--noEmit', '-p', '.']);
if (tsc !== 0) {
  process.stderr.write('typecheck failed\n');
  process.exit(tsc);
}
const lint = run('npx', ['--no-install', 'biome', 'check', '.']);
if (lint !== 0) {
  process.stderr.write('lint failed: `npm run format` fixes what it can; the rest is named above\n');
  process.exit(lint);
}
const extra = process.argv.slice(2);
const files = extra.length > 0 ? extra : ['src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'];
// Integration tests start real servers and load; two at a time keeps a 2-core machine honest.
// Each test has 5 minutes; the whole run 40 (a file that never exits fails the run instead of hanging it).
// Not --test-force-exit: it ends a file before describe blocks registered later have run.
process.exit(run(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=300000', ...files], 40 * 60_000));
