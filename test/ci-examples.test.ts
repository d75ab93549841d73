// The CI examples as a pipeline runs them: the deploy step of examples/ci/gitlab-ci.yml and of
// examples/ci/github-actions.yml, run by a shell against a real daemon, pass on a promoted release and
// fail the job on a release that ends badly (exit 1) and on a deploy the API refuses (exit 3).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { ROOT } from './helpers.ts';
import { cleanup, type Running, type Setup, startUp, writeSetup } from './lifecycle-helpers.ts';

const gitlab = parse(readFileSync(join(ROOT, 'examples/ci/gitlab-ci.yml'), 'utf8')) as {
  deploy: { script: string[]; variables: Record<string, string> };
};
const github = parse(readFileSync(join(ROOT, 'examples/ci/github-actions.yml'), 'utf8')) as {
  jobs: { deploy: { steps: { name?: string; run?: string; env?: Record<string, string> }[] } };
};
const gitlabStep = gitlab.deploy.script.at(-1)!;
const githubStep = github.jobs.deploy.steps.find((s) => s.name === 'release with cutover')!;

describe('the CI examples against a running daemon', () => {
  let s: Setup;
  let d: Running;
  before(async () => {
    s = await writeSetup();
    d = await startUp(s);
  });
  after(async () => {
    await d?.stop();
    if (s) cleanup(s);
  });

  /** One CI step's script in bash (GitHub runs `run:` with bash), with the pipeline's variables. */
  const job = (script: string, vars: Record<string, string>) => {
    const r = spawnSync('bash', ['-e', '-c', script], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...vars,
        CUTOVER_API: `http://127.0.0.1:${s.apiPort}`,
        CUTOVER_TOKEN: s.token,
        CUTOVER: `${process.execPath} ${join(ROOT, 'bin/cutover.js')}`,
      },
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { code: r.status, out: r.stdout + r.stderr };
  };

  test('the GitLab job deploys with --wait --json and passes on a promoted release', () => {
    assert.match(gitlabStep, /examples\/ci\/deploy\.sh/);
    const r = job(gitlabStep, { ...gitlab.deploy.variables, CI_COMMIT_SHORT_SHA: 'v1' });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /"phase":"(promoted|retired)"/);
    assert.match(r.out, /cutover: release \S+ of version v1: (promoted|retired)/);
  });

  test('the GitLab job fails on a release that ends failed, naming why', () => {
    const r = job(gitlabStep, { ...gitlab.deploy.variables, CI_COMMIT_SHORT_SHA: 'broken' });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /the release ended badly .*version broken: failed: .*/);
  });

  test('the GitHub Actions step fails when the API refuses the deploy', () => {
    assert.match(githubStep.run ?? '', /deploy\.sh/);
    const r = job(githubStep.run!, { CUTOVER_SERVICE: 'nope', GITHUB_SHA: 'abcdef0123456789' });
    assert.equal(r.code, 3, r.out);
    assert.match(r.out, /the API refused the deploy: CUTOVER_E_NOT_FOUND/);
  });

  test('the GitHub Actions step deploys the commit and passes', () => {
    const r = job(githubStep.run!, { ...githubStep.env, CUTOVER_SERVICE: 'web', GITHUB_SHA: 'abcdef0123456789' });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /version abcdef012345: promoted/);
  });
});
