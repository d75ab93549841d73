// The dashboard shows each service's traffic adapter as `cutover status` does, in a real (headless)
// Chromium against a real daemon that drives Debian's HAProxy: the adapter's kind and what it can do,
// what HAProxy reports now, and drift when HAProxy is changed behind cutover's back, gone again once
// a switch applies the route table. Screenshots land in test-artifacts/.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { serverName } from '../src/traffic/haproxy.ts';
import { type HaproxyServer, startHaproxy } from './balancers.ts';
import { type Daemon, ROOT, startDaemon, startUpstream, type Upstream, waitFor } from './helpers.ts';

const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM = process.env.CUTOVER_CHROMIUM ?? '/usr/bin/chromium';

function haproxyCommand(socket: string, cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const s = net.connect({ path: socket });
    s.on('data', (d) => (out += d));
    s.on('error', reject);
    s.on('close', () => resolve(out));
    s.end(`${cmd}\n`);
  });
}

test('the dashboard shows the HAProxy adapter, what HAProxy reports, and drift until a switch applies the route table', async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'cutover-dash-traffic-'));
  const ups: Upstream[] = [];
  let haproxy: HaproxyServer | undefined;
  let d: Daemon | undefined;
  let browser: Awaited<ReturnType<typeof chromium.launchPersistentContext>> | undefined;
  try {
    const blue = await startUpstream('blue');
    const green = await startUpstream('green');
    ups.push(blue, green);
    haproxy = await startHaproxy(dir);
    const hp = haproxy;
    d = await startDaemon([blue.address], [green.address], {
      service: { traffic: { kind: 'haproxy', socket: hp.socket, backend: 'web' } },
    });
    const daemon = d;
    await waitFor('HAProxy serving blue', async () => (await fetch(`http://127.0.0.1:${hp.port}/`)).headers.get('x-slot') === 'blue');

    browser = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(`http://127.0.0.1:${daemon.apiPort}/`);
    await page.fill('#token', daemon.token);
    await page.click('#sign-in-form button[type=submit]');
    await page.waitForSelector('[data-testid=traffic][data-kind=haproxy]');
    const box = async () => (await page.textContent('[data-testid=traffic]')) ?? '';
    assert.match(await box(), /traffic haproxy \(lossless, weighted\)/);
    // What the balancer reports is read back from HAProxy, the same line status prints.
    await waitFor('the dashboard to agree with the route table', async () => /agrees with the route table/.test(await box()), 15_000);
    const api = (await daemon.api('GET', '/api/v1/services/web')).json.traffic;
    assert.ok(api.observed?.detail, JSON.stringify(api));
    assert.equal(await page.textContent('[data-testid=traffic-observed]').then((t) => t?.includes(api.observed.detail)), true);
    // One address per slot, as configured: parity says they differ in nothing else.
    assert.equal(await page.textContent('[data-testid=parity]'), 'parity blue and green differ only in their version');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-traffic-agrees.png'), fullPage: true });

    assert.match(await haproxyCommand(hp.socket, `set server web/${serverName('blue', blue.address)} state maint`), /^\s*$/);
    const drift = await page.waitForSelector('[data-testid=traffic-drift]', { timeout: 20_000 });
    const driftText = (await drift.textContent()) ?? '';
    assert.match(driftText, /Drift: the balancer does not serve the route table\. Switching again applies it: cutover switch web blue/);
    assert.match(driftText, /blue/);
    assert.equal(await page.textContent('[data-testid=traffic-state]'), 'drift');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-traffic-drift.png'), fullPage: true });

    assert.equal((await daemon.switchTo('blue')).status, 200);
    await page.waitForSelector('[data-testid=traffic-drift]', { state: 'detached', timeout: 20_000 });
    assert.match(await box(), /agrees with the route table/);
  } finally {
    await browser?.close();
    await d?.stop();
    await haproxy?.stop();
    for (const u of ups) await u.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
