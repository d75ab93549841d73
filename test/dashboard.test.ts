// The dashboard in a real (headless) Chromium against a real daemon: sign-in with a token, the live
// slot, a rollback pressed and confirmed that moves users' traffic (checked on the router), and a
// viewer who is offered no buttons. Screenshots land in test-artifacts/.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROOT, startDaemon, startUpstream, waitFor } from './helpers.ts';

const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM = process.env.CUTOVER_CHROMIUM ?? '/usr/bin/chromium';

/** Chromium with a fresh profile (Playwright passes it as --user-data-dir). Every tab has its own session. */
async function launch(): Promise<{ browser: BrowserContext; profile: string }> {
  const profile = mkdtempSync(join(tmpdir(), 'cutover-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 1000 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  return { browser, profile };
}

async function signIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(base);
  await page.fill('#token', token);
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('[data-testid=live-slot]');
}

test('after sign-in the dashboard shows the live slot; rollback, confirmed, moves users to the old slot; a viewer sees no buttons', async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const blue = await startUpstream('blue');
  const green = await startUpstream('green', (req, res) => {
    // Green is a little slower, so the charts have something to tell apart.
    setTimeout(() => {
      req.resume();
      res.end('green');
    }, 15);
    return true;
  });
  const d = await startDaemon([blue.address], [green.address], {
    service: {
      standby: '10m',
      analysis: { interval: '200ms', window: '10m' },
      gates: [{ http: { requests: [{ path: '/', expect: { status: 200 } }] } }],
    },
  });
  let launched: Awaited<ReturnType<typeof launch>> | null = null;
  const requests: string[] = [];
  let load = true;
  const traffic = (async () => {
    while (load) {
      await Promise.all(
        Array.from({ length: 5 }, () =>
          fetch(`http://127.0.0.1:${d.port}/`)
            .then((r) => r.text())
            .catch(() => ''),
        ),
      );
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    launched = await launch();
    const browser = launched.browser;
    const base = `http://127.0.0.1:${d.apiPort}/`;
    const mk = async (role: string) => (await d.api('POST', '/api/v1/tokens', { role, name: `${role}-browser` })).json.token as string;
    const deployer = await mk('deployer');
    const viewer = await mk('viewer');
    const r = await d.api('POST', '/api/v1/services/web/releases', { version: 'v2' });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    await waitFor(
      'observing',
      async () => (await d.api('GET', `/api/v1/services/web/releases/${r.json.id}`)).json.phase === 'observing',
      15_000,
    );
    assert.equal(await (await fetch(`http://127.0.0.1:${d.port}/`)).text(), 'green');

    const page = await browser.newPage();
    page.on('request', (req) => requests.push(req.url()));
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(String(err)));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });

    // A wrong token is refused with a message.
    await page.goto(base);
    await page.fill('#token', 'cut_wrong');
    await page.click('#sign-in-form button[type=submit]');
    await waitFor('the refusal', async () => (await page.locator('#sign-in-error').textContent())?.includes('not accepted'));

    problems.length = 0; // the refused token's 401 is expected
    await signIn(page, base, deployer);
    const live = page.locator('[data-service=web] [data-testid=live-slot]');
    assert.equal(await live.getAttribute('data-slot'), 'green');
    assert.equal(await page.locator('#who-role').textContent(), 'deployer');
    assert.equal(await page.locator('[data-service=web] [data-testid=phase]').textContent(), 'observing');
    assert.ok(await page.locator('[data-service=web] .timeline [data-step=shifting].done').count(), 'the timeline shows the phases passed');
    assert.match(
      (await page.locator('[data-service=web] .timeline [data-step=verifying] .results').textContent()) ?? '',
      /passed http/,
      'the gate result under verifying',
    );
    assert.equal(await page.locator('[data-service=web] .slot-green .targets li[data-healthy=true]').count(), 1);
    // The charts fill as the samples come in.
    await waitFor('chart lines', async () => (await page.locator('[data-service=web] svg.chart path.line').count()) >= 3, 10_000);
    await waitFor(
      'green requests on the chart',
      async () =>
        /^green [1-9]/.test(
          (await page.locator('[data-service=web] .chart-box').first().locator('.legend.slot-green').textContent()) ?? '',
        ),
      10_000,
    );
    await page.waitForTimeout(2000);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-deployer-observing.png'), fullPage: true });
    assert.ok(await page.locator('[data-action=rollback]').isVisible());
    assert.equal(await page.locator('[data-action=abort]').count(), 0, 'abort is offered only before traffic moves');

    // Cancel changes nothing; confirm rolls back.
    await page.click('[data-action=rollback]');
    await page.waitForSelector('dialog#confirm[open]');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-rollback-confirm.png') });
    await page.click('#confirm-cancel');
    await page.waitForTimeout(300);
    assert.equal(await (await fetch(`http://127.0.0.1:${d.port}/`)).text(), 'green', 'cancelled: users stay on green');
    await page.click('[data-action=rollback]');
    await page.waitForSelector('dialog#confirm[open]');
    await page.fill('#confirm-reason', 'pressed in the dashboard test');
    await page.click('#confirm-ok');
    await waitFor('blue live on the page', async () => (await live.getAttribute('data-slot')) === 'blue', 10_000);
    // Verified where it matters: the router sends users to blue.
    for (let i = 0; i < 5; i++) assert.equal(await (await fetch(`http://127.0.0.1:${d.port}/`)).text(), 'blue');
    await waitFor(
      'rolled-back on the page',
      async () => (await page.locator('[data-service=web] [data-testid=phase]').textContent()) === 'rolled-back',
      5000,
    );
    await waitFor(
      'the audit row on the page',
      async () => (await page.locator('[data-service=web] table.audit').textContent())?.includes('api:deployer-browser'),
      5000,
    );
    const audit = (await d.api('GET', '/api/v1/services/web/audit')).json as any[];
    assert.ok(
      audit.some(
        (e) =>
          e.actor === 'api:deployer-browser' &&
          e.data.path === '/api/v1/services/web/rollback' &&
          e.data.body.reason === 'pressed in the dashboard test',
      ),
    );
    // The request-rate chart follows the users to blue.
    await waitFor(
      'blue requests on the chart',
      async () =>
        /^blue [1-9]/.test((await page.locator('[data-service=web] .chart-box').first().locator('.legend.slot-blue').textContent()) ?? ''),
      10_000,
    );
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-after-rollback.png'), fullPage: true });
    // The token lives in this tab's session only.
    // (globalThis: the page's window; this file is typed without the DOM.)
    assert.equal(await page.evaluate(() => (globalThis as any).localStorage.length), 0);
    assert.equal(await page.evaluate(() => (globalThis as any).sessionStorage.getItem('cutover.token')), deployer);
    assert.deepEqual(problems, []);
    await page.close();

    // A viewer, in a new tab (a new session: not signed in), sees the same service and no button at all.
    const vpage = await browser.newPage();
    await vpage.goto(base);
    assert.ok(await vpage.locator('#sign-in').isVisible(), 'a new tab asks for a token again');
    vpage.on('request', (req) => requests.push(req.url()));
    await signIn(vpage, base, viewer);
    assert.equal(await vpage.locator('[data-service=web] [data-testid=live-slot]').getAttribute('data-slot'), 'blue');
    assert.equal(await vpage.locator('#who-role').textContent(), 'viewer');
    assert.equal(await vpage.locator('[data-action]').count(), 0);
    assert.equal(await vpage.locator('.actions').count(), 0);
    await vpage.screenshot({ path: join(ARTIFACTS, 'dashboard-viewer.png'), fullPage: true });
    await vpage.close();

    // Nothing was asked of anything but the API listener.
    const elsewhere = requests.filter((u) => !u.startsWith(base));
    assert.deepEqual(elsewhere, []);
  } finally {
    load = false;
    await traffic;
    await launched?.browser.close();
    if (launched) rmSync(launched.profile, { recursive: true, force: true });
    await d.stop();
    await blue.close();
    await green.close();
  }
});
