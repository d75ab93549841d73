// The dashboard in a real (headless) Chromium against a real daemon while a release shifts in steps:
// the release says "step 1 of 2 (20%)" as the CLI does, and the charts mark every switch of traffic
// and the rollback with a labelled vertical line. Screenshots land in test-artifacts/.
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
/** The labels of the marks on the first chart (requests/s); every chart draws the same ones. */
const MARKS = 'figure.chart-box:first-of-type svg .mark text';

test('the dashboard shows the step of a progressive shift, and its charts mark each switch and the rollback', async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // The step holds until promoted: what is asserted mid-shift stays so however slow the machine.
  const s = await writeSetup({
    shift: { steps: [20, 100], hold: '10m' },
    analysis: { interval: '250ms', window: '1s', inconclusive: 'pass' },
  });
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
    const page = browser.pages()[0] ?? (await browser.newPage());
    const labels = () => page.$$eval(MARKS, (els) => els.map((e) => e.textContent));
    await page.goto(`http://127.0.0.1:${s.apiPort}/`);
    await page.fill('#token', s.token);
    await page.click('#sign-in-form button[type=submit]');
    await page.waitForSelector('[data-testid=live-slot][data-slot=blue]');

    const v2 = await deploy(d, 'v2');
    const step = await page.waitForSelector('[data-testid=step]', { timeout: 30_000 });
    assert.equal((await step.textContent())?.trim(), 'step 1 of 2 (20%)');
    assert.equal(await page.textContent('[data-testid=role-green]'), 'takes 20%', 'the new slot is not idle while it takes traffic');
    assert.equal(await page.textContent('[data-testid=role-blue]'), 'takes 80%');
    await waitFor('the charts to mark the first step', async () => (await labels()).includes('green 20%'), 10_000);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-shift-step.png'), fullPage: true });

    const full = await d.api('POST', '/api/v1/services/web/promote', { full: true });
    assert.equal(full.status, 200, JSON.stringify(full.json));
    await waitPhase(d, v2.id, ['promoted'], 30_000);
    const rb = await d.api('POST', '/api/v1/services/web/rollback', { reason: 'marking the charts' });
    assert.equal(rb.status, 200, JSON.stringify(rb.json));
    await page.waitForSelector('figure.chart-box svg .mark.rollback', { timeout: 10_000 });
    // v1's first switch, v2's step and its 100%, then the rollback, in time order.
    assert.deepEqual(await labels(), ['→ blue', 'green 20%', '→ green', 'rollback → blue']);
    assert.equal(await page.$$eval('figure.chart-box', (els) => els.length), 3);
    assert.equal(await page.$$eval('svg .mark.rollback', (els) => els.length), 3, 'each chart marks the rollback');
    assert.equal(await page.isVisible('[data-testid=step]'), false, 'no step once the shift is over');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-rollback-marks.png'), fullPage: true });
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
    await d.stop();
    cleanup(s);
  }
});
