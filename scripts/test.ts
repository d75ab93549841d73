// `npm test`: the type check and the linter (Biome), then every unit test (src/**/*.test.ts, bench/**/*.test.ts) and integration
// test (test/**/*.test.ts), each file in a test runner of its own. `npm test -- FILE...` runs only those.
//
// Why one runner per file rather than one `node --test` over them all: a file that fails before its
// clean-up (a daemon that did not start in time under load, say) can leave a server listening, and
// then the file never exits. One runner over all files waits for it until the whole run's limit and
// says nothing of which file it was; here the file is stopped at its own limit, named, and counted as
// a failure, and the other files' results stand. (Not --test-force-exit: it ends a file before
// describe blocks registered later have run.) Node's spec reporter explains failures only when its
// file ends, so each file also writes a TAP report, and a file stopped for hanging has its failures
// printed from that.
import { spawn, spawnSync } from 'node:child_process';
import { globSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Two files at a time: integration tests start real servers and load; more would make a 2-core machine lie. */
const CONCURRENCY = 2;
/** A file that runs longer has hung; each test in it has 5 minutes of its own. */
const FILE_LIMIT_MS = 10 * 60_000;
/** The whole run, so CI always ends with an answer. */
const RUN_LIMIT_MS = 40 * 60_000;
const COUNTS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo'] as const;
type Counts = Record<(typeof COUNTS)[number], number>;

const step = (cmd: string, args: string[]): number => spawnSync(cmd, args, { stdio: 'inherit' }).status ?? 1;

if (step('npx', ['--no-install', 'tsc', '--noEmit', '-p', '.']) !== 0) {
  process.stderr.write('typecheck failed\n');
  process.exit(1);
}
if (step('npx', ['--no-install', 'biome', 'check', '.']) !== 0) {
  process.stderr.write('lint failed: `npm run format` fixes what it can; the rest is named above\n');
  process.exit(1);
}

const patterns = process.argv.length > 2 ? process.argv.slice(2) : ['src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'];
const files = [...new Set(patterns.flatMap((p) => (p.includes('*') ? globSync(p).sort() : [p])))];
if (files.length === 0) {
  process.stderr.write(`npm test: no test file matches ${patterns.join(' ')}\n`);
  process.exit(1);
}

const total: Counts = { tests: 0, suites: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
const failedFiles: string[] = [];
const running = new Set<number>();

/** The summary lines node's runner prints at its end; a file stopped before them counts its ✔ and ✖ lines. */
function countsOf(output: string, finished: boolean): Counts {
  const c: Counts = { tests: 0, suites: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
  if (finished) {
    for (const k of COUNTS) c[k] = Number(new RegExp(`^ℹ ${k} (\\d+)$`, 'm').exec(output)?.[1] ?? 0);
    return c;
  }
  c.pass = output.match(/^\s*✔ /gm)?.length ?? 0;
  c.fail = (output.match(/^\s*✖ /gm)?.length ?? 0) + 1;
  c.tests = c.pass + c.fail;
  return c;
}

/**
 * The failed tests of a TAP report, each with its error. The spec reporter prints those only once
 * its file ends, so a file stopped for hanging would otherwise leave its failures unexplained.
 */
function failuresOf(tap: string): string {
  const out: string[] = [];
  let inFailure = false;
  for (const line of tap.split('\n')) {
    const result = /^(\s*)(not ok|ok) \d+ - /.exec(line);
    if (result) inFailure = result[2] === 'not ok';
    if (inFailure) out.push(line);
    if (inFailure && /^\s*\.\.\.$/.test(line)) inFailure = false;
  }
  return out.join('\n');
}

/** Where each file's TAP report goes while it runs (read only when the file has to be stopped). */
const reports = mkdtempSync(join(tmpdir(), 'cutover-test-reports-'));
let reportSeq = 0;

function runFile(file: string): Promise<void> {
  return new Promise((resolve) => {
    const started = Date.now();
    const tap = join(reports, `${++reportSeq}.tap`);
    const reporters = [
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tap}`,
    ];
    // Its own process group, so a file that hangs is stopped with every server it started.
    const child = spawn(process.execPath, ['--test', ...reporters, '--test-timeout=300000', file], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child.pid!);
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (output += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (output += t));
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      killGroup(child.pid!);
    }, FILE_LIMIT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      running.delete(child.pid!);
      const c = countsOf(output, !hung);
      for (const k of COUNTS) total[k] += c[k];
      const ok = code === 0 && !hung && c.fail === 0;
      if (!ok) failedFiles.push(file);
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(`\n# ${file} (${secs} s)\n${output}`);
      if (hung) {
        process.stdout.write(`✖ ${file} did not exit within ${FILE_LIMIT_MS / 60_000} minutes and was stopped\n`);
        let report = '';
        try {
          report = failuresOf(readFileSync(tap, 'utf8'));
        } catch {
          // no report written
        }
        if (report !== '') process.stdout.write(`its failures until then:\n${report}\n`);
      }
      rmSync(tap, { force: true });
      resolve();
    });
  });
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

const runLimit = setTimeout(() => {
  process.stdout.write(`\nnpm test: stopped after ${RUN_LIMIT_MS / 60_000} minutes; still running: ${running.size} file(s)\n`);
  for (const pid of running) killGroup(pid);
  process.exit(1);
}, RUN_LIMIT_MS);
runLimit.unref();
// Each file runs in its own process group: stopping this runner must stop them too.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const pid of running) killGroup(pid);
    process.exit(1);
  });
}

const queue = [...files];
await Promise.all(
  Array.from({ length: Math.min(CONCURRENCY, queue.length) }, async () => {
    for (let f = queue.shift(); f !== undefined; f = queue.shift()) await runFile(f);
  }),
);

process.stdout.write(`\n${COUNTS.map((k) => `ℹ ${k} ${total[k]}`).join('\n')}\n`);
if (failedFiles.length > 0) process.stdout.write(`files with failures:\n${failedFiles.map((f) => `  ${f}`).join('\n')}\n`);
process.stdout.write(`tests: ${total.pass} passed, ${total.fail} failed, ${total.skipped} skipped\n`);
rmSync(reports, { recursive: true, force: true });
process.exit(failedFiles.length > 0 ? 1 : 0);
