// The dashboard's words in a real (headless) Chromium against a real daemon: a release that holds
// says why and what to run, slots say what they do (live, standby, being provisioned, never "idle"
// while they take traffic), times are local with how long ago, a failed release shows its whole reason
// and its logs, and the signed-out page offers no "Sign out". Screenshots land in test-artifacts/.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { ROOT, waitFor } from './helpers.ts';
import { cleanup, deploy, startUp, waitPhase, writeSetup } from './lifecycle-helpers.ts';

const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM = process.env.CUTOVER_CHROMIUM ?? '/usr/bin/chromium';

test('the dashboard says why a release holds and what to run, what each slot does, and why a release failed', async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const s = await writeSetup({ analysis: { interval: '250ms', window: '1s', minSamples: 10, inconclusive: 'hold' } });
  const d = await startUp(s);
  const profile = mkdtempSync(join(tmpdir(), 'cutover-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 1100 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  try {
    await waitPhase(d, (await deploy(d, 'v1')).id, ['promoted', 'retired']);
    const v2 = await deploy(d, 'v2');
    await waitFor(
      'v2 to hold',
      async () => (await d.api('GET', `/api/v1/services/web/releases/${v2.id}`)).json.analysis?.at(-1)?.action === 'hold',
      30_000,
    );

    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(`http://127.0.0.1:${s.apiPort}/`);
    assert.equal(await page.isVisible('#sign-out'), false, 'the signed-out page offers no Sign out');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-signed-out.png') });
    await page.fill('#token', s.token);
    await page.click('#sign-in-form button[type=submit]');
    const hold = await page.waitForSelector('[data-testid=hold]');
    const holdText = (await hold.textContent()) ?? '';
    assert.match(holdText, /Holding \(observing\): .*fewer than minSamples 10.*cutover promote web/);
    assert.equal(await page.textContent('[data-testid=role-green]'), 'live');
    assert.equal(await page.textContent('[data-testid=role-blue]'), 'standby');
    const times = await page.$$eval('.timeline time', (els) => els.map((e) => e.textContent ?? ''));
    assert.ok(times.length > 0 && times.every((t) => /^\d\d:\d\d:\d\d \((now|\S+ ago)\)$/.test(t)), times.join(' | '));
    const reasons = (await page.$$eval('.timeline .reason', (els) => els.map((e) => e.textContent ?? ''))).join('\n');
    assert.doesNotMatch(reasons, /\d{4,} ms/, 'durations in human units');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-hold.png'), fullPage: true });

    await page.click('[data-action=promote]');
    await page.click('#confirm-ok');
    await waitPhase(d, v2.id, ['promoted']);
    const bad = await deploy(d, 'broken');
    // Ends failed quickly (its replica exits at once); waitPhase names any other end.
    await waitPhase(d, bad.id, ['failed'], 60_000);
    const failure = await page.waitForSelector('[data-testid=failure]', { timeout: 15_000 });
    assert.match((await failure.textContent()) ?? '', /cannot read config\/app\.json/, "the app's own output is in the reason");
    await page.click('text=Logs of blue');
    await page.waitForSelector('.logs:not([hidden])');
    assert.match((await page.textContent('.logs')) ?? '', /cannot read config\/app\.json/);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-failed.png'), fullPage: true });
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
    await d.stop();
    cleanup(s);
  }
});
