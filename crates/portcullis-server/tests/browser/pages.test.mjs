// Every page a person sees, in headless Chromium at desktop and phone width, in the
// light and the dark colour scheme: the configured service name and logo, which
// application is asking, no horizontal scrolling on a phone, a focus ring that can be
// seen (WCAG 2.2 AA: 3:1 against the page), and no violation of any rule that
// axe-core (from npm) checks — colour contrast, labels, ARIA, landmarks, headings.
//
// Run through run.sh, or by hand:
//   PORTCULLIS_BIN=target/debug/portcullis node --test crates/portcullis-server/tests/browser/pages.test.mjs
// Optional: PORTCULLIS_SCREENSHOT_DIR=/tmp/pages keeps a screenshot of every page.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

import {
  BIN, CHROMIUM, CHROMIUM_ARGS, CLIENT_NAME, USERNAME, PASSWORD, WAIT_MS,
  base64url, cli, pkce, startCallbackServer, startServer, stop, stopCallbackServer,
} from './support.mjs';

const require = createRequire(import.meta.url);
const AXE_SOURCE = await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');

const SERVICE_NAME = 'Example Corp accounts';
const LOGO_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">' +
  '<rect width="64" height="64" rx="12" fill="#2456a6"/></svg>';

const VIEWPORTS = [
  { name: 'desktop', viewport: { width: 1280, height: 800 } },
  // An iPhone SE-sized phone: 375 CSS pixels wide, touch, a 2x screen.
  { name: 'phone', viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
];
const SCHEMES = ['light', 'dark'];

/** WCAG relative luminance of an `rgb(...)`/`rgba(...)` colour. */
function luminance(rgb) {
  const [r, g, b] = rgb.map((c) => {
    const v = c / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** The WCAG contrast ratio of two colours. */
function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/** `rgb(1, 2, 3)` or `rgba(1, 2, 3, 1)` as [1, 2, 3]; fails on a translucent colour. */
function parseColour(text) {
  const match = /^rgba?\((\d+),\s*(\d+),\s*(\d+)(?:,\s*([\d.]+))?\)$/.exec(text);
  assert.ok(match, `a computed colour, got ${text}`);
  if (match[4] !== undefined) assert.equal(Number(match[4]), 1, `an opaque colour, got ${text}`);
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

/**
 * A test CA and a certificate it signed for 127.0.0.1, made with openssl in `dir`:
 * the server trusts the CA through PORTCULLIS_FETCH_CA_FILE.
 */
function makeCertificates(dir) {
  const openssl = (args) => {
    const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    assert.equal(result.status, 0, `openssl ${args.join(' ')}: ${result.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext']);
  return { ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server.key') };
}

/**
 * An HTTPS server of client ID metadata documents: `/client.json` describes a client
 * named `name` redirecting to `redirectUri`; `/wrong.json` names another client_id.
 */
async function startDocumentServer(certificates, name, redirectUri) {
  const server = https.createServer(
    { cert: readFileSync(certificates.cert), key: readFileSync(certificates.key) },
    (request, response) => {
      const self = `https://127.0.0.1:${server.address().port}${request.url}`;
      const documents = {
        '/client.json': { client_id: self, client_name: name, redirect_uris: [redirectUri] },
        '/wrong.json': { client_id: `${self}-other`, redirect_uris: [redirectUri] },
      };
      const document = documents[request.url];
      if (!document) {
        response.writeHead(404, { connection: 'close' }).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json', connection: 'close' });
      response.end(JSON.stringify(document));
    },
  );
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return { server, base: `https://127.0.0.1:${server.address().port}` };
}

describe('every page in Chromium: branding, phone width, focus, axe-core', { timeout: 600_000 }, () => {
  let workdir;
  let databaseUrl;
  let client;
  let server;
  let callback;
  let browser;
  let documents;
  const serverLog = [];
  const screenshots = process.env.PORTCULLIS_SCREENSHOT_DIR;

  before(async () => {
    assert.ok(existsSync(BIN), `no portcullis binary at ${BIN}: build it or set PORTCULLIS_BIN`);
    assert.ok(existsSync(CHROMIUM), `no browser at ${CHROMIUM}: apt-get install chromium`);
    workdir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-pages-'));
    databaseUrl = `sqlite://${path.join(workdir, 'portcullis.db')}`;
    const logo = path.join(workdir, 'logo.svg');
    await writeFile(logo, LOGO_SVG);
    callback = await startCallbackServer();
    cli(databaseUrl, ['migrate']);
    client = cli(databaseUrl, [
      'client', 'create', '--name', CLIENT_NAME, '--redirect-uri', `${callback.base}/callback`,
      '--scope', 'openid profile email',
    ]);
    cli(databaseUrl, ['user', 'create', '--username', USERNAME, '--password-stdin', '--email', 'alice@example.com',
      '--name', 'Alice Liddell'], `${PASSWORD}\n`);
    const certificates = makeCertificates(workdir);
    documents = await startDocumentServer(certificates, 'Self-named App', `${callback.base}/callback`);
    server = await startServer(databaseUrl, serverLog, {
      PORTCULLIS_SERVICE_NAME: SERVICE_NAME,
      PORTCULLIS_LOGO: logo,
      // Clients known by their client ID metadata documents, from the local server.
      PORTCULLIS_CLIENT_ID_METADATA_DOCUMENTS: 'true',
      PORTCULLIS_FETCH_CA_FILE: certificates.ca,
      PORTCULLIS_FETCH_ALLOWED_ADDRESSES: '127.0.0.1',
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
    if (screenshots) await mkdir(screenshots, { recursive: true });
  }, { timeout: 120_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await stop(server?.child);
    await stopCallbackServer(callback);
    documents?.server.closeAllConnections();
    await new Promise((resolve) => (documents ? documents.server.close(resolve) : resolve()));
    if (workdir) await rm(workdir, { recursive: true, force: true });
  }, { timeout: 30_000 });

  /** An authorization request of the test client (or `clientId`), with a fresh state and PKCE pair. */
  function authorizationUrl(clientId = client.client_id) {
    const url = new URL('/authorize', server.base);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: `${callback.base}/callback`,
      scope: 'openid profile email',
      state: base64url(randomBytes(16)),
      nonce: base64url(randomBytes(16)),
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
    }).toString();
    return url.toString();
  }

  // Four tests:
  // "every page at desktop width in the light scheme",
  // "every page at desktop width in the dark scheme",
  // "every page at phone width in the light scheme",
  // "every page at phone width in the dark scheme".
  for (const { name: size, ...options } of VIEWPORTS) {
    for (const scheme of SCHEMES) {
      test(`every page at ${size} width in the ${scheme} scheme`, { timeout: 180_000 }, async (t) => {
        const context = await browser.newContext({ ...options, colorScheme: scheme });
        context.setDefaultTimeout(WAIT_MS);
        context.setDefaultNavigationTimeout(WAIT_MS);
        const page = await context.newPage();
        const consoleErrors = [];
        // The pages this test expects to answer 4xx (the error page, the wrong
        // password): Chromium logs their status, which is not a failure here.
        const expectedFailures = [];
        page.on('console', (message) => {
          const where = message.location().url;
          if (message.type() !== 'error' || where.endsWith('/favicon.ico')) return;
          if (/Failed to load resource/.test(message.text()) && expectedFailures.some((expected) => expected(where))) {
            return;
          }
          consoleErrors.push(`${message.text()} (${where})`);
        });
        page.on('pageerror', (error) => consoleErrors.push(String(error)));
        const checked = [];
        const ringRatios = [];

        /** Everything every page must satisfy; `label` names it in failures. */
        async function check(label) {
          checked.push(label);
          const where = `${label} (${size}, ${scheme})`;
          // The service name and the logo, loaded (the CSP allows it) and drawn.
          assert.equal((await page.textContent('header.brand .service'))?.trim(), SERVICE_NAME, where);
          const logo = page.locator('header.brand img.logo');
          assert.ok(await logo.evaluate((img) => img.complete && img.naturalWidth > 0), `${where}: the logo loads`);
          // Nothing wider than the screen: no sideways scrolling on a phone.
          const { scrollWidth, innerWidth } = await page.evaluate(() => ({
            scrollWidth: document.documentElement.scrollWidth,
            innerWidth: window.innerWidth,
          }));
          assert.ok(scrollWidth <= innerWidth, `${where}: ${scrollWidth}px of content in a ${innerWidth}px window`);
          // axe-core: every rule it runs by default (WCAG 2.0–2.2 A and AA, best practices).
          await page.evaluate(AXE_SOURCE);
          const results = await page.evaluate(async () => {
            // eslint-disable-next-line no-undef
            const { violations } = await axe.run(document, { resultTypes: ['violations'] });
            return violations.map((v) => ({
              id: v.id,
              impact: v.impact,
              help: v.help,
              nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary}`),
            }));
          });
          assert.deepEqual(results, [], `${where}: axe-core violations:\n${JSON.stringify(results, null, 2)}`);
          // A keyboard user sees where the focus is: the ring is solid and 3:1 against the page.
          await page.evaluate(() => document.activeElement?.blur());
          await page.keyboard.press('Tab');
          const ring = await page.evaluate(() => {
            const focused = document.activeElement;
            if (!focused || focused === document.body) return null;
            const style = getComputedStyle(focused);
            return {
              tag: focused.tagName,
              outlineStyle: style.outlineStyle,
              outlineWidth: style.outlineWidth,
              outline: style.outlineColor,
              background: getComputedStyle(document.body).backgroundColor,
            };
          });
          assert.ok(ring, `${where}: Tab focuses something`);
          assert.equal(ring.outlineStyle, 'solid', `${where}: ${ring.tag} shows a focus ring`);
          assert.ok(parseFloat(ring.outlineWidth) >= 2, `${where}: the ring is ${ring.outlineWidth} wide`);
          const ratio = contrast(parseColour(ring.outline), parseColour(ring.background));
          ringRatios.push(ratio);
          assert.ok(ratio >= 3, `${where}: focus ring contrast ${ratio.toFixed(2)}:1 (${ring.outline} on ${ring.background})`);
          if (screenshots) {
            await page.screenshot({ path: path.join(screenshots, `${label.replace(/\W+/g, '-')}-${size}-${scheme}.png`), fullPage: true });
          }
        }

        try {
          // The home page, signed out.
          await page.goto(server.base + '/', { waitUntil: 'load' });
          assert.equal(await page.textContent('h1'), SERVICE_NAME);
          await check('home');

          // An error page: a request from a client that does not exist.
          const errorUrl = `${server.base}/authorize?response_type=code&client_id=nobody`;
          expectedFailures.push((url) => url === errorUrl);
          const error = await page.goto(errorUrl, { waitUntil: 'load' });
          assert.equal(error.status(), 400);
          assert.ok(await page.locator('details summary').isVisible(), 'the technical details are folded away');
          await check('error');

          // The sign-in page of a pending request: it names the application and its host.
          await page.goto(authorizationUrl(), { waitUntil: 'load' });
          assert.equal(new URL(page.url()).pathname, '/login');
          assert.equal((await page.textContent('h1')).trim(), `Sign in to continue to ${CLIENT_NAME}`);
          assert.equal(await page.textContent('.return-to .host'), '127.0.0.1');
          await check('sign-in');

          // A wrong password: the error is announced and tied to both fields.
          await page.fill('#username', USERNAME);
          await page.fill('#password', 'not the password');
          expectedFailures.push((url) => new URL(url).pathname === '/login');
          await Promise.all([page.waitForURL((u) => u.pathname === '/login'), page.click('form button[type="submit"]')]);
          await page.locator('#login-error').waitFor({ state: 'visible' });
          for (const field of ['#username', '#password']) {
            assert.equal(await page.getAttribute(field, 'aria-invalid'), 'true', field);
            assert.equal(await page.getAttribute(field, 'aria-describedby'), 'login-error', field);
          }
          await check('sign-in error');

          // Signed in: the consent page.
          expectedFailures.pop();
          await page.fill('#username', USERNAME);
          await page.fill('#password', PASSWORD);
          await Promise.all([page.waitForURL((u) => u.pathname === '/consent'), page.click('form button[type="submit"]')]);
          assert.match(await page.textContent('h1'), new RegExp(`${CLIENT_NAME} wants to access your account`));
          assert.match(await page.textContent('ul.scopes'), /alice@example\.com/);
          await check('consent');

          // The consent page of a client known by its metadata document: named by its
          // URL's host, its own name shown as unchecked.
          const host = new URL(documents.base).host;
          await page.goto(authorizationUrl(`${documents.base}/client.json`), { waitUntil: 'load' });
          assert.equal(new URL(page.url()).pathname, '/consent');
          assert.equal((await page.textContent('h1')).trim(), `${host} wants to access your account`);
          assert.match(await page.textContent('.self-asserted'), /Self-named App/);
          await check('consent of a metadata document client');

          // A document that cannot be used: an error page saying why.
          const refusedUrl = authorizationUrl(`${documents.base}/wrong.json`);
          expectedFailures.push((url) => url === refusedUrl);
          const refused = await page.goto(refusedUrl, { waitUntil: 'load' });
          assert.equal(refused.status(), 400);
          assert.match(await page.textContent('main'), /names another client_id/);
          await check('refused metadata document');

          // The home page, signed in; then the sign-out confirmation and the signed-out page.
          await page.goto(server.base + '/', { waitUntil: 'load' });
          assert.match(await page.textContent('main'), /Signed in as\s+alice/);
          await check('home signed in');
          await page.goto(server.base + '/logout', { waitUntil: 'load' });
          assert.equal((await page.textContent('h1')).trim(), 'Sign out');
          await check('sign-out');
          await Promise.all([page.waitForLoadState('load'), page.click('form button[type="submit"]')]);
          await page.waitForFunction(() => document.querySelector('h1')?.textContent.includes('You are signed out'));
          await check('signed out');

          assert.deepEqual(consoleErrors, [], 'no console errors (CSP violations, failed loads) on any page');
          t.diagnostic(`checked: ${checked.join(', ')}`);
          t.diagnostic(`focus ring contrast: ${Math.min(...ringRatios).toFixed(2)}:1 at the least`);
        } finally {
          await context.close().catch(() => {});
        }
      });
    }
  }
});
