// Interoperability (issue 12): Node's `openid-client` v6, a relying-party library
// nobody here wrote, signs a user in against a real `portcullis serve` with its own
// defaults: OpenID discovery, the code flow with PKCE, state and nonce (and RFC 9207's
// `iss` checked), ID token validation, UserInfo for the ID token's subject, a
// refresh, and RP-Initiated Logout with the URL the library builds. The browser is played by fetch: the sign-in and consent forms are filled
// in as a person would. Issue 13: its default client authentication
// (client_secret_post whenever it holds a secret) works for a client registered with
// the default client_secret_basic, unless that client was registered strict.
//
// Run through run.sh, which installs the pinned packages and sets PORTCULLIS_BIN.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import * as oidc from "openid-client";

const bin = process.env.PORTCULLIS_BIN;
assert.ok(bin, "PORTCULLIS_BIN must name the portcullis binary");

const dir = mkdtempSync(join(tmpdir(), "portcullis-oidc-"));
const databaseUrl = `sqlite://${join(dir, "portcullis.db")}`;
const redirectUri = "https://rp.example/callback";
const postLogoutRedirectUri = "https://rp.example/signed-out";
const env = () =>
  Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("PORTCULLIS_")));
const run = (args, input) =>
  execFileSync(bin, ["--database-url", databaseUrl, ...args], { env: env(), input }).toString();

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let server;
let issuer;
let client;
let service;
let strictService;

before(async () => {
  run(["migrate"]);
  run(
    ["user", "create", "--username", "alice", "--email", "alice@example.com", "--name",
      "Alice Liddell", "--password-stdin"],
    "correct horse battery staple\n",
  );
  client = JSON.parse(run([
    "client", "create", "--name", "openid-client", "--redirect-uri", redirectUri,
    "--scope", "openid profile email offline_access",
    "--post-logout-redirect-uri", postLogoutRedirectUri,
  ]));
  // Registered with the default method (client_secret_basic), as most are; and one
  // registered as strict.
  service = JSON.parse(run([
    "client", "create", "--name", "service", "--grant-type", "client_credentials",
  ]));
  strictService = JSON.parse(run([
    "client", "create", "--name", "strict service", "--grant-type", "client_credentials",
    "--strict-auth-method",
  ]));
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  server = spawn(bin, [
    "--database-url", databaseUrl, "serve", "--bind", `127.0.0.1:${port}`, "--issuer", issuer,
  ], { env: env(), stdio: ["ignore", "ignore", "inherit"] });
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${issuer}/healthz`)).ok) return;
    } catch {}
    await sleep(100);
  }
  throw new Error("portcullis serve did not become healthy");
});

after(() => {
  server?.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
});

/** A browser: keeps cookies, follows nothing by itself. */
class Browser {
  cookies = new Map();

  async request(url, init = {}) {
    const headers = { ...(init.headers ?? {}) };
    if (this.cookies.size) {
      headers.cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
    }
    const response = await fetch(new URL(url, issuer), { ...init, headers, redirect: "manual" });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const at = pair.indexOf("=");
      this.cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
    }
    return response;
  }

  /** Follows redirects within the server; returns the last response and its URL. */
  async follow(url) {
    for (let i = 0; i < 10; i++) {
      const response = await this.request(url);
      const next = response.headers.get("location");
      if (!next) return { response, url };
      const target = new URL(next, url);
      if (target.origin !== issuer) return { response, url };
      url = target.href;
    }
    throw new Error("too many redirects");
  }

  /** Submits the page's form with `fields` added to its hidden inputs. */
  async submit(html, fields) {
    const unescape = (text) =>
      text.replaceAll("&#x2f;", "/").replaceAll("&amp;", "&").replaceAll("&quot;", '"');
    const action = unescape(html.match(/<form[^>]*action="([^"]*)"/)[1]);
    const body = new URLSearchParams();
    for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)"/g)) {
      body.append(name, unescape(value));
    }
    for (const [name, value] of Object.entries(fields)) body.append(name, value);
    return this.request(action, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: body.toString(),
    });
  }
}

test("openid-client signs in with discovery, code + PKCE + nonce, UserInfo, refresh and RP-initiated logout", async () => {
  const config = await oidc.discovery(
    new URL(issuer),
    client.client_id,
    undefined,
    oidc.ClientSecretBasic(client.client_secret),
    { execute: [oidc.allowInsecureRequests] },
  );
  assert.equal(config.serverMetadata().issuer, issuer);

  const codeVerifier = oidc.randomPKCECodeVerifier();
  const nonce = oidc.randomNonce();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: "openid profile email offline_access", // offline_access: a refresh token (OpenID Connect Core §11)
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: "S256",
    nonce,
    state,
  });

  const browser = new Browser();
  const login = await browser.follow(url.href);
  assert.match(login.url, /\/login\?/);
  const signedIn = await browser.submit(await login.response.text(), {
    username: "alice",
    password: "correct horse battery staple",
  });
  assert.equal(signedIn.status, 303);
  const consent = await browser.follow(new URL(signedIn.headers.get("location"), issuer).href);
  assert.match(consent.url, /\/consent\?/);
  const decided = await browser.submit(await consent.response.text(), { decision: "allow" });
  assert.equal(decided.status, 302);
  const callback = new URL(decided.headers.get("location"));
  assert.equal(callback.origin + callback.pathname, redirectUri);

  const tokens = await oidc.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: codeVerifier,
    expectedNonce: nonce,
    expectedState: state,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  assert.equal(claims.iss, issuer);
  assert.equal(claims.aud, client.client_id);
  assert.equal(claims.nonce, nonce);
  assert.ok(claims.auth_time, "auth_time");

  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(info.sub, claims.sub);
  assert.equal(info.email, "alice@example.com");
  assert.equal(info.name, "Alice Liddell");

  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  assert.notEqual(refreshed.access_token, tokens.access_token);
  const again = refreshed.claims();
  assert.equal(again.sub, claims.sub);
  assert.equal(again.auth_time, claims.auth_time);
  assert.equal(again.nonce, undefined);

  // RP-Initiated Logout: the URL openid-client builds from the discovered
  // end_session_endpoint signs the user out at once (the hint is theirs) and returns
  // the browser to the registered URI with the state.
  assert.ok(config.serverMetadata().end_session_endpoint, "end_session_endpoint");
  const logoutState = oidc.randomState();
  const logoutUrl = oidc.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: postLogoutRedirectUri,
    state: logoutState,
  });
  const out = await browser.follow(logoutUrl.href);
  const back = new URL(out.response.headers.get("location"));
  assert.equal(back.origin + back.pathname, postLogoutRedirectUri);
  assert.equal(back.searchParams.get("state"), logoutState);
  // Signed out: the next authorization request asks for a sign-in again.
  const relogin = await browser.follow(url.href);
  assert.match(relogin.url, /\/login\?/, "signed out");
});

// Issue 13, item 7: openid-client sends client_secret_post whenever it has a secret
// (its default client authentication); a client registered with the default
// client_secret_basic gets its tokens all the same, unless it was registered strict.
test("openid-client's default client_secret_post works for a client_secret_basic client unless strict", async () => {
  const discover = (registered) =>
    oidc.discovery(new URL(issuer), registered.client_id, registered.client_secret, undefined, {
      execute: [oidc.allowInsecureRequests],
    });
  const tokens = await oidc.clientCredentialsGrant(await discover(service));
  assert.ok(tokens.access_token, "an access token");
  assert.equal(tokens.token_type.toLowerCase(), "bearer");

  const refused = await oidc.clientCredentialsGrant(await discover(strictService)).then(
    () => assert.fail("a strict client_secret_basic client was let use client_secret_post"),
    (error) => error,
  );
  // A 401 with a challenge: openid-client hands over the response; its body is the
  // RFC 6749 error.
  assert.equal(refused.code, "OAUTH_WWW_AUTHENTICATE_CHALLENGE");
  assert.equal(refused.status, 401);
  assert.equal(refused.cause[0].scheme, "basic");
  const body = await refused.response.json();
  assert.equal(body.error, "invalid_client");
  assert.match(body.error_description, /strict/);
  const strictConfig = await oidc.discovery(
    new URL(issuer),
    strictService.client_id,
    undefined,
    oidc.ClientSecretBasic(strictService.client_secret),
    { execute: [oidc.allowInsecureRequests] },
  );
  assert.ok((await oidc.clientCredentialsGrant(strictConfig)).access_token);
});
