// Interoperability: Node's `jose` (a JOSE library nobody here wrote) verifies the JWT
// access tokens of a real `portcullis serve` against its `/jwks`, across a key
// rotation: a token signed before the rotation still verifies after it, and a token
// signed after it verifies with a JWK Set fetched before the new key became current.
//
// Run through run.sh, which installs the pinned `jose` and sets PORTCULLIS_BIN.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { createRemoteJWKSet, createLocalJWKSet, jwtVerify, decodeProtectedHeader } from "jose";

const bin = process.env.PORTCULLIS_BIN;
assert.ok(bin, "PORTCULLIS_BIN must name the portcullis binary");

const dir = mkdtempSync(join(tmpdir(), "portcullis-jose-"));
const databaseUrl = `sqlite://${join(dir, "portcullis.db")}`;
const settings = {
  PORTCULLIS_ACCESS_TOKEN_FORMAT: "jwt",
  // A short cache lifetime and reload interval keep the publication delay (2 + 1 + 5 s)
  // short enough for a test.
  PORTCULLIS_JWKS_MAX_AGE: "2",
  PORTCULLIS_SIGNING_KEY_REFRESH: "1",
};
const env = () => {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith("PORTCULLIS_")),
  );
  return { ...clean, ...settings };
};
const cli = (...args) =>
  JSON.parse(execFileSync(bin, ["--database-url", databaseUrl, ...args], { env: env() }).toString());

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

before(async () => {
  // Only serve and migrate create the database; the management commands open it.
  cli("migrate");
  client = cli(
    "client", "create", "--name", "jose-interop", "--grant-type", "client_credentials",
    "--scope", "reports:read",
  );
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

async function token() {
  const response = await fetch(`${issuer}/token`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: "grant_type=client_credentials&scope=reports:read",
  });
  assert.equal(response.status, 200);
  return (await response.json()).access_token;
}

async function jwks() {
  const response = await fetch(`${issuer}/jwks`);
  assert.equal(response.status, 200);
  return response.json();
}

const expected = () => ({ issuer, audience: issuer, typ: "at+jwt", algorithms: ["ES256"] });

test("jose verifies tokens across a key rotation", async () => {
  const metadata = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json();
  assert.equal(metadata.jwks_uri, `${issuer}/jwks`);
  const remote = createRemoteJWKSet(new URL(metadata.jwks_uri));

  const first = await token();
  const { payload, protectedHeader } = await jwtVerify(first, remote, expected());
  assert.equal(protectedHeader.typ, "at+jwt");
  assert.equal(payload.client_id, client.client_id);
  assert.equal(payload.scope, "reports:read");

  // Rotate: the new key is published within the reload interval, signs later.
  const rotated = cli("keys", "rotate");
  assert.equal(rotated.state, "next");
  let published;
  for (let i = 0; i < 50; i++) {
    published = await jwks();
    if (published.keys.some((k) => k.kid === rotated.kid)) break;
    await sleep(100);
  }
  assert.ok(published.keys.some((k) => k.kid === rotated.kid), "the next key is published");
  // Until it activates, tokens are still signed by the old key.
  const stillOld = await token();
  assert.equal(decodeProtectedHeader(stillOld).kid, protectedHeader.kid);

  // After activation, the new key signs.
  const wait = rotated.activates * 1000 - Date.now() + 1500;
  if (wait > 0) await sleep(wait);
  const second = await token();
  assert.equal(decodeProtectedHeader(second).kid, rotated.kid);

  // A set fetched before the new key became current verifies the new token...
  await jwtVerify(second, createLocalJWKSet(published), expected());
  // ...and the old token still verifies with the set published now.
  await jwtVerify(first, createLocalJWKSet(await jwks()), expected());
  await jwtVerify(first, createRemoteJWKSet(new URL(metadata.jwks_uri)), expected());

  // And the checks bite: another audience, another issuer, a tampered token.
  await assert.rejects(jwtVerify(second, createLocalJWKSet(published), { ...expected(), audience: "https://elsewhere.example" }));
  await assert.rejects(jwtVerify(second, createLocalJWKSet(published), { ...expected(), issuer: "https://evil.example" }));
  const [h, p, s] = second.split(".");
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, "base64url")), scope: "admin" })).toString("base64url");
  await assert.rejects(jwtVerify(`${h}.${forged}.${s}`, createLocalJWKSet(published), expected()));
});
