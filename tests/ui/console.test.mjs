// Browser test of the embedded console (issue 7): the release gateway and
// the testkit mock upstream, driven through Debian's chromium by
// playwright-core. Saves a screenshot of each page into docs/screenshots/.
//
// Env: GATEWAY_BIN, MOCK_BIN (default: target/release/…), CHROMIUM (/usr/bin/chromium).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const GATEWAY_BIN = process.env.GATEWAY_BIN ?? join(ROOT, 'target/release/gateway');
const MOCK_BIN = process.env.MOCK_BIN ?? join(ROOT, 'target/release/mock-upstream');
const SHOTS = join(ROOT, 'docs/screenshots');
const PASSWORD = 'ui-test-admin-password';
// Five lines, one of them a repeat: 4 keys imported, 1 skipped.
const UPSTREAM_KEYS = [
  'sk-ui-upstream-aaaaaaaaaaaaaaaa1',
  'sk-ui-upstream-bbbbbbbbbbbbbbbb2',
  'sk-ui-upstream-cccccccccccccccc3',
  'sk-ui-upstream-dddddddddddddddd4',
];
const IMPORT_LINES = [...UPSTREAM_KEYS, UPSTREAM_KEYS[1]];

const freePort = () => new Promise((done, fail) => {
  const server = createServer();
  server.on('error', fail);
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => done(port));
  });
});

async function waitUntilUp(url, child, name) {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} did not come up at ${url}`);
}

let work, mock, gateway, base, browser, page;
const problems = [];
const apiBodies = [];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'akr-ui-'));
  const mockPort = await freePort();
  const gatewayPort = await freePort();
  mock = spawn(MOCK_BIN, [`127.0.0.1:${mockPort}`, '1'], { stdio: ['ignore', 'ignore', openSync(join(work, 'mock.log'), 'w')] });
  const env = { ...process.env, BACKEND_PORT: String(gatewayPort), BIND_ADDRESS: '127.0.0.1',
    DATABASE_PATH: join(work, 'data', 'gateway.db'), ADMIN_PASSWORD: PASSWORD, LOG_LEVEL: 'warn',
    PROXY_PUBLIC_BASE_URL: `http://127.0.0.1:${gatewayPort}` };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'DB_HOST', 'REDIS_HOST', 'ENCRYPTION_KEY', 'GLOBAL_PROXY_KEYS']) delete env[name];
  const log = openSync(join(work, 'gateway.log'), 'w');
  gateway = spawn(GATEWAY_BIN, [], { env, stdio: ['ignore', log, log] });
  base = `http://127.0.0.1:${gatewayPort}`;
  await waitUntilUp(`${base}/healthz`, gateway, 'gateway');
  await waitUntilUp(`http://127.0.0.1:${mockPort}/v1/models`, mock, 'mock upstream');
  process.env.MOCK_ADDRESS = `http://127.0.0.1:${mockPort}`;

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
  });
  const context = await browser.newContext({ viewport: { width: 1100, height: 720 }, deviceScaleFactor: 1, locale: 'en-US', colorScheme: 'light' });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 40[01]/.test(m.text())) problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('response', async (response) => {
    try { apiBodies.push({ url: response.url(), body: await response.text() }); } catch { /* redirects, aborted */ }
  });
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  gateway?.kill('SIGTERM');
  mock?.kill('SIGTERM');
  if (process.env.UI_KEEP_LOGS) console.log(`logs in ${work}`); else rmSync(work, { recursive: true, force: true });
});

/** A link of the main navigation. */
const nav = (name) => page.getByRole('navigation').getByRole('link', { name, exact: true });
const shot = async (name) => {
  await page.evaluate(() => { document.activeElement?.blur(); scrollTo(0, 0); });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
};

/** No full upstream key in the DOM (markup and control values) or in any answer so far. */
async function assertNoUpstreamKeyLeaked(where) {
  const markup = await page.content();
  const values = await page.evaluate(() => [...document.querySelectorAll('input, textarea')].map((e) => e.value).join('\n'));
  for (const key of UPSTREAM_KEYS) {
    assert.ok(!markup.includes(key), `${where}: full key in the DOM`);
    assert.ok(!values.includes(key), `${where}: full key left in a form control`);
    for (const { url, body } of apiBodies) assert.ok(!body.includes(key), `${where}: full key in the answer of ${url}`);
  }
}

/** Every form control has an accessible name. */
async function assertControlsLabelled(where) {
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((e) => !(e.labels?.length || e.getAttribute('aria-label') || e.textContent.trim()))
    .map((e) => e.outerHTML.slice(0, 80)));
  assert.deepEqual(unlabelled, [], `${where}: controls without a label`);
}

test('the console, end to end', async (t) => {
  // Steps build on each other: after the first failure the rest are skipped, not timed out.
  let failed = false;
  const step = (name, body) => t.test(name, { skip: failed && 'an earlier step failed' }, async () => {
    try { await body(); } catch (error) { failed = true; throw error; }
  });
  await step('security headers on UI routes', async () => {
    const response = await fetch(`${base}/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-security-policy'), /default-src 'none'; script-src 'self'/);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(response.headers.get('x-frame-options'), 'DENY');
  });

  await step('a wrong password shows an error', async () => {
    await page.goto(`${base}/`);
    await page.getByLabel('Password').waitFor();
    await shot('login');
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Wrong username or password.' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('akr.token')), null);
  });

  await step('log in with the keyboard', async () => {
    await page.getByLabel('Password').focus();
    await page.keyboard.press('Control+A');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    assert.match(await page.evaluate(() => sessionStorage.getItem('akr.token')), /^ey/);
    assert.equal(await page.evaluate(() => localStorage.getItem('akr.token')), null, 'token not in localStorage');
  });

  await step('create an LLM service, with the API validation shown at the field', async () => {
    await nav('Services').click();
    await page.getByRole('link', { name: 'New service' }).first().click();
    await page.getByLabel('Name', { exact: true }).fill('Demo LLM');
    assert.equal(await page.getByLabel('Slug').inputValue(), 'demo-llm', 'slug follows the name');
    await page.getByLabel('Upstream base URL').fill('not a url');
    await page.getByRole('button', { name: 'New service' }).click();
    const error = page.locator('.field[data-field="target_base_url"] .field-error');
    await error.waitFor();
    assert.match(await error.textContent(), /http/i, 'the API message names what is wrong');
    await page.getByLabel('Upstream base URL').fill(`${process.env.MOCK_ADDRESS}/v1`);
    assert.ok(await error.isHidden(), 'the error goes once the field is edited');
    await page.getByLabel('Upstream API format').selectOption('openai_compatible');
    await assertControlsLabelled('service form');
    await shot('service-form');
    await page.getByRole('button', { name: 'New service' }).click();
    await page.getByRole('heading', { name: 'Keys of Demo LLM' }).waitFor();
  });

  await step('batch-import 5 keys with one duplicate', async () => {
    await page.getByLabel('Import keys').fill(IMPORT_LINES.join('\n'));
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.locator('#import-report').filter({ hasText: 'Imported 4, skipped 1 duplicates, 0 failed.' }).waitFor();
    await page.locator('#key-list tbody tr').nth(3).waitFor();
    assert.equal(await page.locator('#key-list tbody tr').count(), 4);
    await assertNoUpstreamKeyLeaked('after import');
  });

  await step('disable one key', async () => {
    const first = page.locator('#key-list tbody tr').first();
    await first.getByRole('switch', { name: 'Enabled' }).uncheck();
    await page.locator('#key-list tbody tr').first().locator('.badge.disabled').waitFor();
  });

  let clientKey;
  await step('create a client key: shown once, copyable', async () => {
    await nav('Client keys').click();
    await page.getByLabel('Name').fill('ui-test-app');
    await page.getByRole('button', { name: 'Create key' }).click();
    const shown = page.locator('#new-client-key');
    await shown.waitFor();
    clientKey = (await shown.textContent()).trim();
    assert.ok(clientKey.length >= 20, 'the full key is shown');
    await page.locator('#created-key').getByRole('button', { name: 'Copy' }).click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), clientKey);
    await page.locator('tr[data-client-key="ui-test-app"]').waitFor();
    assert.ok(!(await page.locator('tr[data-client-key="ui-test-app"]').textContent()).includes(clientKey), 'the listing is masked');
  });

  await step('call the gateway with the client key and see usage rise', async () => {
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${base}/llm/demo-llm/v1/chat/completions`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${clientKey}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(response.status, 200, await response.text());
    }
    await page.reload();
    await page.locator('#created-key').waitFor({ state: 'attached' });
    assert.equal(await page.locator('#new-client-key').count(), 0, 'the full key is gone after a reload');
    const requests = page.locator('tr[data-client-key="ui-test-app"] td.requests');
    await requests.filter({ hasText: /^3$/ }).waitFor();
    await assertControlsLabelled('client keys');
    await shot('client-keys');

    await nav('Services').click();
    await page.locator('tr[data-slug="demo-llm"]').waitFor();
    await page.locator('tr[data-slug="demo-llm"]').getByRole('button', { name: 'Use' }).click();
    await page.locator('.snippet-row:not([hidden]) pre').first().waitFor();
    assert.match(await page.locator('.snippet-row:not([hidden])').textContent(), new RegExp(`${base}/llm/demo-llm/v1`));
    await assertControlsLabelled('services');
    await shot('services');

    await page.locator('tr[data-slug="demo-llm"]').getByRole('link', { name: 'Keys' }).click();
    await page.locator('#key-list tbody tr').first().waitFor();
    const perKey = await page.locator('#key-list td.requests').allTextContents();
    assert.equal(perKey.reduce((sum, n) => sum + Number(n), 0), 3, `requests per key: ${perKey}`);
    assert.equal(await page.locator('#key-list tbody tr').first().locator('td.requests').textContent(), '0', 'the disabled key served nothing');
    await assertControlsLabelled('keys');
    await shot('keys');

    await nav('Dashboard').click();
    await page.locator('#total-requests .card-value').filter({ hasText: /^3$/ }).waitFor();
    // The mock reports 5 + 5 tokens per answer.
    await page.locator('#total-input-tokens .card-value').filter({ hasText: /^15$/ }).waitFor();
    await page.locator('#total-output-tokens .card-value').filter({ hasText: /^15$/ }).waitFor();
    await shot('dashboard');
    await assertNoUpstreamKeyLeaked('after use');
  });

  await step('the request log shows each call, filtered', async () => {
    await nav('Request log').click();
    // Rows are written within a second: apply the filter until they are there.
    for (let i = 0; i < 20 && await page.locator('tr[data-request-id]').count() < 3; i++) {
      await page.waitForTimeout(250);
      await page.getByRole('button', { name: 'Apply filters' }).click();
    }
    await page.getByLabel('Status').selectOption('2xx');
    await page.getByLabel('Service').selectOption('demo-llm');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.locator('#log-summary').filter({ hasText: '3 requests shown' }).waitFor();
    const first = page.locator('tr[data-request-id]').first();
    assert.match(await first.textContent(), /demo-llm/);
    assert.match(await first.textContent(), /ui-test-app/);
    assert.match(await first.textContent(), /gpt-4o-mini/);
    await page.getByLabel('Status').selectOption('5xx');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.locator('#log-summary').filter({ hasText: 'No requests match.' }).waitFor();
    await page.getByLabel('Status').selectOption('');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.locator('#log-summary').filter({ hasText: '3 requests shown' }).waitFor();
    await assertControlsLabelled('request log');
    await assertNoUpstreamKeyLeaked('request log');
    await shot('request-logs');
  });

  await step('test a key from the key pool', async () => {
    await nav('Services').click();
    await page.locator('tr[data-slug="demo-llm"]').getByRole('link', { name: 'Keys' }).click();
    await page.locator('#key-list tbody tr').nth(1).getByRole('button', { name: 'Test' }).click();
    await page.locator('.toast.ok').filter({ hasText: 'works (200' }).waitFor();
  });

  await step('switch language to Chinese and back', async () => {
    const missing = await page.evaluate(async () => (await import('/ui/i18n.js')).missing());
    assert.deepEqual(missing, [], 'every English text has a Chinese one');
    await page.getByLabel('Language').selectOption('zh-CN');
    await nav('服务').waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN');
    await page.getByRole('heading', { name: 'Demo LLM 的密钥' }).waitFor();
    await page.getByLabel('语言').selectOption('en');
    await nav('Services').waitFor();
  });

  await step('dark theme and a phone-width screen', async () => {
    await page.getByRole('button', { name: 'Dark theme' }).click();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    await page.setViewportSize({ width: 390, height: 800 });
    await nav('Services').click();
    await page.locator('tr[data-slug="demo-llm"]').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at phone width`);
    await shot('services-phone-dark');
    await page.getByRole('button', { name: 'Light theme' }).click();
    await page.setViewportSize({ width: 1100, height: 720 });
  });

  await step('an expired session goes back to login', async () => {
    await page.evaluate(() => sessionStorage.setItem('akr.token', 'eyJ.expired.token'));
    await nav('Client keys').click();
    await page.getByRole('alert').filter({ hasText: 'Your session has expired' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('akr.token')), null);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  });

  await step('log out', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('akr.token')), null);
    await page.goto(`${base}/#/services`);
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    await assertNoUpstreamKeyLeaked('at the end');
  });

  assert.deepEqual(problems, [], 'no script errors and no CSP violations in the browser');
});
