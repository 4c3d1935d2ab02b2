// A real browser signs in and consents: headless Debian Chromium, driven by Playwright,
// against the `portcullis` binary serving a fresh SQLite database on a loopback port.
//
// Run through run.sh (which installs Chromium and builds the server), or by hand:
//   PORTCULLIS_BIN=target/debug/portcullis node --test crates/portcullis-server/tests/browser/
// Optional: PORTCULLIS_SCREENSHOT=/tmp/consent.png keeps the consent page's screenshot;
// CHROMIUM=/path/to/chromium picks another browser binary (default /usr/bin/chromium).

import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

import {
  BIN, CHROMIUM, CHROMIUM_ARGS, CLIENT_NAME, USERNAME, PASSWORD, WAIT_MS,
  base64url, cli, pkce, startCallbackServer, startServer, stop, stopCallbackServer,
} from './support.mjs';

describe('sign-in and consent in headless Chromium', { timeout: 180_000 }, () => {
  let workdir;
  let databaseUrl;
  let client;
  let server;
  let callback; // { server, base, hits }
  let browser;
  let context;
  let page;
  let pageErrors; // console errors (CSP violations, failed loads) and uncaught exceptions
  const serverLog = [];
  const redirectUri = () => `${callback.base}/callback`;

  before(async () => {
    assert.ok(existsSync(BIN), `no portcullis binary at ${BIN}: build it or set PORTCULLIS_BIN`);
    assert.ok(existsSync(CHROMIUM), `no browser at ${CHROMIUM}: apt-get install chromium`);
    workdir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-browser-'));
    databaseUrl = `sqlite://${path.join(workdir, 'portcullis.db')}`;

    // The client's redirect URI: a tiny server that records where the browser lands.
    callback = await startCallbackServer();

    // Only serve and migrate create the database; the management commands open it.
    cli(databaseUrl, ['migrate']);
    client = cli(databaseUrl, [
      'client', 'create', '--name', CLIENT_NAME, '--redirect-uri', redirectUri(), '--scope', 'profile',
    ]);
    assert.ok(client.client_id && client.client_secret, 'client create prints the id and secret');
    cli(databaseUrl, ['user', 'create', '--username', USERNAME, '--password-stdin'], `${PASSWORD}\n`);

    server = await startServer(databaseUrl, serverLog);

    // Playwright's launch gives the browser a new empty --user-data-dir of its own
    // (and removes it on close); every test gets a fresh context, so no cookie leaks.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 60_000,
    });
  }, { timeout: 120_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await stop(server?.child);
    await stopCallbackServer(callback);
    if (workdir) await rm(workdir, { recursive: true, force: true });
  }, { timeout: 30_000 });

  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 800, height: 700 } });
    context.setDefaultTimeout(WAIT_MS);
    context.setDefaultNavigationTimeout(WAIT_MS);
    page = await context.newPage();
    pageErrors = [];
    page.on('console', (message) => {
      const where = message.location().url;
      // The server has no favicon; the browser's automatic /favicon.ico probe 404s.
      if (message.type() !== 'error' || where.endsWith('/favicon.ico')) return;
      pageErrors.push(`${message.text()} (${where})`);
    });
    page.on('pageerror', (error) => pageErrors.push(String(error)));
  }, { timeout: 30_000 });

  afterEach(async () => {
    await context?.close().catch(() => {});
    context = undefined;
  }, { timeout: 30_000 });

  /** The authorization URL with a fresh state and PKCE pair. */
  function authorization() {
    const state = base64url(randomBytes(16));
    const { verifier, challenge } = pkce();
    const url = new URL('/authorize', server.base);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: redirectUri(),
      scope: 'profile',
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();
    return { url: url.toString(), state, verifier };
  }

  async function openLoginPage(url) {
    const response = await page.goto(url, { waitUntil: 'load' });
    assert.equal(response.status(), 200, 'the login page loads');
    assert.equal(new URL(page.url()).pathname, '/login', `redirected to the sign-in page, got ${page.url()}`);
    assert.equal(await page.title(), 'Sign in');
  }

  test('signs in, consents, and lands on the redirect URI with a code', { timeout: 60_000 }, async (t) => {
    const { url, state, verifier } = authorization();
    await openLoginPage(url);

    await page.fill('input[name="username"]', USERNAME);
    await page.fill('input[name="password"]', PASSWORD);
    const consentResponse = page.waitForResponse(
      (r) => new URL(r.url()).pathname === '/consent' && r.request().method() === 'GET' && r.status() === 200,
    );
    await page.click('form button[type="submit"]');
    const consent = await consentResponse;
    await page.waitForURL((u) => u.pathname === '/consent', { waitUntil: 'load' });

    // The consent page: names the client and the user, and cannot be framed.
    const headers = await consent.allHeaders();
    assert.match(headers['content-security-policy'] ?? '', /frame-ancestors 'none'/);
    assert.equal(headers['x-frame-options'], 'DENY');
    assert.equal(await page.textContent('h1 .client'), CLIENT_NAME);
    assert.match(await page.textContent('h1'), new RegExp(`${CLIENT_NAME} wants to access your account`));
    assert.match(await page.textContent('main'), new RegExp(`Signed in as\\s+${USERNAME}`));
    assert.match(await page.textContent('ul.scopes'), /See your name and profile/);
    assert.equal(await page.title(), `Allow ${CLIENT_NAME}?`);
    const allow = page.locator('button[name="decision"][value="allow"]');
    assert.equal(await allow.isVisible(), true);
    assert.equal(await page.locator('button[name="decision"][value="deny"]').isVisible(), true);

    // The stylesheet is allowed by the CSP and applied: the card has its border.
    const border = await page.locator('main.card').evaluate((el) => getComputedStyle(el).borderTopStyle);
    assert.notEqual(border, 'none', 'portcullis.css is applied');
    assert.deepEqual(pageErrors, [], 'no console errors on the sign-in and consent pages');

    // Kept only where PORTCULLIS_SCREENSHOT says; otherwise removed with the temp dir.
    const screenshot = process.env.PORTCULLIS_SCREENSHOT || path.join(workdir, 'consent.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    if (process.env.PORTCULLIS_SCREENSHOT) t.diagnostic(`consent page screenshot: ${screenshot}`);

    // Allow: the server redirects the browser to the client's redirect URI.
    const hitsBefore = callback.hits.length;
    await Promise.all([
      page.waitForURL((u) => u.origin === callback.base && u.pathname === '/callback', { waitUntil: 'load' }),
      allow.click(),
    ]);
    const landed = new URL(page.url());
    assert.equal(await page.textContent('p'), 'callback received');
    assert.equal(callback.hits.length, hitsBefore + 1, 'the callback server saw the redirect once');
    assert.equal(callback.hits.at(-1).href, landed.href);
    const code = landed.searchParams.get('code');
    assert.ok(code, `a code in ${landed}`);
    assert.equal(landed.searchParams.get('state'), state);
    assert.equal(landed.searchParams.get('iss'), server.base);
    assert.equal(landed.searchParams.get('error'), null);

    // The client exchanges the code (client_secret_basic + code_verifier).
    const basic = Buffer.from(
      `${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`,
    ).toString('base64');
    const tokenResponse = await fetch(`${server.base}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri(),
        code_verifier: verifier,
      }),
      signal: AbortSignal.timeout(WAIT_MS),
    });
    const text = await tokenResponse.text();
    assert.equal(tokenResponse.status, 200, `token response: ${text}`);
    const token = JSON.parse(text);
    assert.equal(typeof token.access_token, 'string');
    assert.ok(token.access_token.length > 0);
    assert.match(token.token_type, /^bearer$/i);
    assert.equal(token.scope ?? 'profile', 'profile');
  });

  test('a wrong password shows an error and stays on the sign-in page', { timeout: 60_000 }, async () => {
    const { url } = authorization();
    const hitsBefore = callback.hits.length;
    await openLoginPage(url);
    await page.fill('input[name="username"]', USERNAME);
    await page.fill('input[name="password"]', 'not the password');
    const [response] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/login' && r.request().method() === 'POST'),
      page.click('form button[type="submit"]'),
    ]);
    assert.equal(response.status(), 401);
    await page.waitForLoadState('load');
    const error = page.locator('p.error[role="alert"]');
    await error.waitFor({ state: 'visible' });
    assert.equal((await error.textContent()).trim(), 'The username or password is incorrect.');
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.equal(await page.title(), 'Sign in');
    assert.equal(await page.inputValue('input[name="username"]'), USERNAME, 'the username is kept');
    assert.equal(await page.inputValue('input[name="password"]'), '', 'the password is not echoed back');
    assert.equal(callback.hits.length, hitsBefore, 'the browser never reached the client');
  });
});
