// A service in maintenance or paused says so where an operator looks first: `cutover status` (and
// its --json) and the dashboard's card, in a real (headless) Chromium, against a real daemon whose
// router really answers the maintenance page. Screenshots land in test-artifacts/.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { CLI, type Daemon, ROOT, startDaemon, startUpstream, type Upstream, waitFor } from './helpers.ts';

const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM = process.env.CUTOVER_CHROMIUM ?? '/usr/bin/chromium';

function cli(d: Daemon, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, CUTOVER_API: `http://127.0.0.1:${d.apiPort}`, CUTOVER_TOKEN: d.token };
    execFile(process.execPath, [CLI, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

test('cutover status and the dashboard show a service in maintenance and paused, and what ends each', async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'cutover-chromium-'));
  let up: Upstream | undefined;
  let d: Daemon | undefined;
  let browser: Awaited<ReturnType<typeof chromium.launchPersistentContext>> | undefined;
  try {
    up = await startUpstream('blue');
    d = await startDaemon([up.address], []);
    const daemon = d;
    const before = await cli(daemon, ['status', 'web']);
    assert.equal(before.code, 0, before.out);
    assert.doesNotMatch(before.out, /MAINTENANCE|PAUSED/);

    assert.equal(
      (await daemon.api('POST', '/api/v1/services/web/maintenance', { enabled: true, message: 'Moving the database' })).status,
      200,
    );
    // The router really answers the page, so what status says is what users get.
    assert.equal((await fetch(`http://127.0.0.1:${daemon.port}/`)).status, 503);
    const text = await cli(daemon, ['status', 'web']);
    assert.equal(text.code, 0, text.out);
    const lines = text.out.split('\n');
    assert.match(lines[0] ?? '', /^web {2}listen /);
    assert.equal(
      lines[1],
      '  MAINTENANCE: users get the maintenance page (503) ("Moving the database"); `cutover maintenance web off` ends it',
    );
    assert.match((await cli(daemon, ['status'])).out, /^ {2}MAINTENANCE: users get the maintenance page/m);
    const json = await cli(daemon, ['status', 'web', '--json']);
    assert.deepEqual(JSON.parse(json.out).maintenance, { message: 'Moving the database' });
    assert.equal(JSON.parse(json.out).paused, null);

    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(`http://127.0.0.1:${daemon.apiPort}/`);
    await page.fill('#token', daemon.token);
    await page.click('#sign-in-form button[type=submit]');
    await page.waitForSelector('[data-testid=live-slot]');
    assert.equal(await page.textContent('[data-testid=held-tag]'), 'maintenance');
    assert.equal(
      await page.textContent('[data-testid=maintenance]'),
      'Maintenance: users get the maintenance page (503): “Moving the database”. cutover maintenance web off ends it.',
    );
    assert.equal(await page.$('[data-testid=paused]'), null);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-maintenance.png'), fullPage: true });

    // A pause beneath maintenance, then maintenance off: the pause is what holds users now.
    assert.equal((await daemon.api('POST', '/api/v1/services/web/pause', { timeout: '45s' })).status, 200);
    await page.waitForSelector('[data-testid=paused]', { timeout: 15_000 });
    assert.match((await page.textContent('[data-testid=paused]')) ?? '', /new requests wait up to 45s once maintenance is off/);
    assert.equal((await daemon.api('POST', '/api/v1/services/web/maintenance', { enabled: false })).status, 200);
    await page.waitForSelector('[data-testid=maintenance]', { state: 'detached', timeout: 15_000 });
    assert.equal(
      await page.textContent('[data-testid=paused]'),
      'Paused: new requests wait up to 45s, then get 503. cutover resume web lets them through.',
    );
    assert.equal(await page.textContent('[data-testid=paused-tag]'), 'paused');
    const paused = await cli(daemon, ['status', 'web']);
    assert.equal(paused.out.split('\n')[1], '  PAUSED: new requests wait up to 45s, then get 503; `cutover resume web` lets them through');
    assert.deepEqual(JSON.parse((await cli(daemon, ['status', 'web', '--json'])).out).paused, { timeout: 45_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-paused.png'), fullPage: true });

    assert.equal((await daemon.api('POST', '/api/v1/services/web/resume', {})).status, 200);
    await page.waitForSelector('[data-testid=held]', { state: 'detached', timeout: 15_000 });
    assert.doesNotMatch((await cli(daemon, ['status', 'web'])).out, /MAINTENANCE|PAUSED/);
    await waitFor('users reach the live slot again', async () => (await fetch(`http://127.0.0.1:${daemon.port}/`)).status === 200);
  } finally {
    await browser?.close();
    await d?.stop();
    await up?.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
