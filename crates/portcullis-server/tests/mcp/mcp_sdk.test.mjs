// Interoperability: the official TypeScript MCP SDK (`@modelcontextprotocol/sdk`), with
// its own OAuth client (`auth()` behind `StreamableHTTPClientTransport`), connects to
// the MCP server of examples/mcp_server.rs protected by a real `portcullis serve`:
// the 401 names the resource metadata (RFC 9728), which names Portcullis; the SDK
// reads Portcullis's metadata (RFC 8414), gets a client ID — by dynamic client
// registration (RFC 7591) in one test, by a client ID metadata document served over
// HTTPS in the other — sends the user to the authorization endpoint with PKCE and
// `resource` (RFC 8707), redeems the code and calls the tool `add`. The browser is
// played by fetch: the sign-in and consent forms are filled in as a person would. The
// access token is a JWT whose `aud` is the MCP server's URL, which introspection by
// the MCP server's resource-server client confirms.
//
// Run through run.sh, which installs the pinned packages, sets PORTCULLIS_BIN,
// MCP_SERVER_BIN and the test CA / certificate (MCP_TEST_CA_FILE, MCP_TEST_TLS_*).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:https";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

const bin = process.env.PORTCULLIS_BIN;
const mcpBin = process.env.MCP_SERVER_BIN;
const caFile = process.env.MCP_TEST_CA_FILE;
assert.ok(bin, "PORTCULLIS_BIN must name the portcullis binary");
assert.ok(mcpBin, "MCP_SERVER_BIN must name the mcp_server example's binary");
assert.ok(caFile, "MCP_TEST_CA_FILE, MCP_TEST_TLS_CERT and MCP_TEST_TLS_KEY must be set (run.sh)");

const USERNAME = "alice";
const PASSWORD = "correct horse battery staple";
const SCOPE = "mcp:tools";
const RS_ID_NAME = "MCP server (resource server)";

const dir = mkdtempSync(join(tmpdir(), "portcullis-mcp-ts-"));
const databaseUrl = `sqlite://${join(dir, "portcullis.db")}`;
const env = () =>
  Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) => !key.startsWith("PORTCULLIS_") && !key.startsWith("MCP_"),
    ),
  );
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

async function waitFor(url, what, child) {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await sleep(100);
  }
  throw new Error(`${what} did not answer at ${url}`);
}

let portcullis;
let mcpServer;
let documents;
let issuer;
let resource;
let documentsBase;
let resourceServer;
/** The client ID metadata documents served, by path, and the paths fetched. */
const served = new Map();
const fetchedDocuments = [];

before(async () => {
  const [asPort, mcpPort] = [await freePort(), await freePort()];
  issuer = `http://127.0.0.1:${asPort}`;
  resource = `http://127.0.0.1:${mcpPort}/mcp`;

  run(["migrate"]);
  run(["user", "create", "--username", USERNAME, "--password-stdin"], `${PASSWORD}\n`);
  // The MCP server as a resource server: registers its URL as a resource (RFC 8707)
  // clients may ask for, and may introspect the tokens issued for it.
  resourceServer = JSON.parse(
    run([
      "client", "create", "--name", RS_ID_NAME, "--grant-type", "client_credentials",
      "--resource-server-audience", resource,
    ]),
  );

  // The HTTPS server of the client ID metadata documents, with a certificate for
  // 127.0.0.1 from the test CA.
  documents = createServer(
    { cert: readFileSync(process.env.MCP_TEST_TLS_CERT), key: readFileSync(process.env.MCP_TEST_TLS_KEY) },
    (request, response) => {
      const path = new URL(request.url, "https://127.0.0.1").pathname;
      fetchedDocuments.push(path);
      const document = served.get(path);
      if (!document) {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(document));
    },
  );
  await new Promise((resolve) => documents.listen(0, "127.0.0.1", resolve));
  documentsBase = `https://127.0.0.1:${documents.address().port}`;

  portcullis = spawn(
    bin,
    ["--database-url", databaseUrl, "serve", "--bind", `127.0.0.1:${asPort}`, "--issuer", issuer],
    {
      env: {
        ...env(),
        PORTCULLIS_ACCESS_TOKEN_FORMAT: "jwt",
        PORTCULLIS_REGISTRATION: "open",
        // What a client that registers itself may ask for: the MCP server's scope.
        PORTCULLIS_REGISTRATION_SCOPES: SCOPE,
        PORTCULLIS_CLIENT_ID_METADATA_DOCUMENTS: "true",
        PORTCULLIS_FETCH_ALLOWED_ADDRESSES: "127.0.0.1",
        PORTCULLIS_FETCH_CA_FILE: caFile,
      },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  await waitFor(`${issuer}/healthz`, "portcullis serve", portcullis);

  mcpServer = spawn(mcpBin, [], {
    env: { ...env(), MCP_AUTHORIZATION_SERVER: issuer, MCP_ADDR: `127.0.0.1:${mcpPort}` },
    stdio: ["ignore", "ignore", "inherit"],
  });
  await waitFor(`http://127.0.0.1:${mcpPort}/.well-known/oauth-protected-resource/mcp`, "the MCP server", mcpServer);
});

after(() => {
  mcpServer?.kill("SIGTERM");
  portcullis?.kill("SIGTERM");
  documents?.close();
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

/**
 * The person at the browser: opens the authorization URL, signs in, allows on the
 * consent page, and returns the URL the browser is sent back to (the redirect URI).
 */
async function authorizeInBrowser(authorizationUrl) {
  const browser = new Browser();
  const login = await browser.follow(authorizationUrl);
  const loginHtml = await login.response.text();
  assert.match(login.url, /\/login\?/, `the login page, not ${login.response.status}: ${loginHtml}`);
  const signedIn = await browser.submit(loginHtml, { username: USERNAME, password: PASSWORD });
  assert.equal(signedIn.status, 303, "signed in");
  const consent = await browser.follow(new URL(signedIn.headers.get("location"), issuer).href);
  const consentHtml = await consent.response.text();
  assert.match(consent.url, /\/consent\?/, `the consent page: ${consentHtml}`);
  assert.ok(
    consentHtml.replaceAll("&#x2f;", "/").includes(resource),
    `the consent page names the MCP server ${resource}`,
  );
  const decided = await browser.submit(consentHtml, { decision: "allow" });
  assert.equal(decided.status, 302, "back to the client");
  return new URL(decided.headers.get("location"));
}

/** The SDK's OAuthClientProvider for a native app with a loopback redirect URI. */
class TestProvider {
  constructor({ redirectUrl, clientMetadataUrl, clientName }) {
    this._redirectUrl = redirectUrl;
    this.clientMetadataUrl = clientMetadataUrl;
    this._clientName = clientName;
    this._client = undefined;
    this._tokens = undefined;
    this._verifier = undefined;
    this._state = undefined;
    this.authorizationUrls = [];
    this.savedClients = [];
    this.code = undefined;
  }

  get redirectUrl() {
    return this._redirectUrl;
  }

  get clientMetadata() {
    return {
      client_name: this._clientName,
      redirect_uris: [this._redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }

  state() {
    this._state = randomBytes(16).toString("base64url");
    return this._state;
  }

  clientInformation() {
    return this._client;
  }

  saveClientInformation(information) {
    this.savedClients.push(information);
    this._client = information;
  }

  tokens() {
    return this._tokens;
  }

  saveTokens(tokens) {
    this._tokens = tokens;
  }

  async redirectToAuthorization(authorizationUrl) {
    this.authorizationUrls.push(new URL(authorizationUrl));
    const callback = await authorizeInBrowser(authorizationUrl.href);
    assert.equal(callback.origin + callback.pathname, this._redirectUrl, "the loopback redirect URI");
    const params = callback.searchParams;
    assert.equal(params.get("error"), null, `an error at the redirect URI: ${callback}`);
    assert.equal(params.get("state"), this._state, "state comes back");
    assert.equal(params.get("iss"), issuer, "RFC 9207 iss");
    this.code = params.get("code");
    assert.ok(this.code, "a code");
  }

  saveCodeVerifier(verifier) {
    this._verifier = verifier;
  }

  codeVerifier() {
    return this._verifier;
  }
}

/** `fetch` that records each request the SDK makes (its method and URL). */
function recordingFetch(log) {
  return async (url, init) => {
    log.push(`${init?.method ?? "GET"} ${url instanceof Request ? url.url : String(url)}`);
    return fetch(url, init);
  };
}

const claims = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());

async function introspect(token) {
  const metadata = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json();
  const basic = Buffer.from(
    `${encodeURIComponent(resourceServer.client_id)}:${encodeURIComponent(resourceServer.client_secret)}`,
  ).toString("base64");
  const response = await fetch(metadata.introspection_endpoint, {
    method: "POST",
    headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token }).toString(),
  });
  assert.equal(response.status, 200);
  return response.json();
}

/**
 * Connects with the SDK (the first attempt ends in the authorization, as the SDK
 * documents: `UnauthorizedError`, then `finishAuth(code)` and a new connection), lists
 * the tools, calls `add`, and checks the token; returns the client ID used.
 */
async function connectAndCallTool(provider, requests) {
  const url = new URL(resource);
  const first = new Client({ name: "portcullis-mcp-interop", version: "0.0.0" });
  const transport = new StreamableHTTPClientTransport(url, {
    authProvider: provider,
    fetch: recordingFetch(requests),
  });
  await assert.rejects(first.connect(transport), UnauthorizedError, "the first connection is sent to sign in");
  assert.equal(provider.authorizationUrls.length, 1, "one authorization request");
  const authorization = provider.authorizationUrls[0];
  assert.equal(authorization.origin, issuer, "the authorization server named by the MCP server");
  assert.equal(authorization.searchParams.get("resource"), resource, "RFC 8707 resource");
  assert.equal(authorization.searchParams.get("code_challenge_method"), "S256");
  assert.ok(authorization.searchParams.get("scope")?.split(" ").includes(SCOPE), "the challenged scope");
  await transport.finishAuth(provider.code);
  await first.close();

  const tokens = provider.tokens();
  assert.ok(tokens?.access_token, "an access token");
  const clientId = provider.clientInformation().client_id;
  const token = claims(tokens.access_token);
  assert.equal(token.iss, issuer);
  assert.deepEqual([token.aud].flat(), [resource], "the token is for the MCP server (aud)");
  assert.equal(token.client_id, clientId);
  const introspected = await introspect(tokens.access_token);
  assert.equal(introspected.active, true, JSON.stringify(introspected));
  assert.deepEqual([introspected.aud].flat(), [resource], "introspection: aud");
  assert.equal(introspected.client_id, clientId);

  const client = new Client({ name: "portcullis-mcp-interop", version: "0.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(url, { authProvider: provider, fetch: recordingFetch(requests) }),
  );
  try {
    const { tools } = await client.listTools();
    assert.ok(tools.some((tool) => tool.name === "add"), JSON.stringify(tools));
    const result = await client.callTool({ name: "add", arguments: { a: 2, b: 3 } });
    assert.equal(result.isError ?? false, false, JSON.stringify(result));
    assert.deepEqual(result.content, [{ type: "text", text: "5" }]);
  } finally {
    await client.close();
  }
  return clientId;
}

test("TypeScript MCP SDK: dynamic client registration (RFC 7591), sign-in, consent, a tool call with a token for the MCP server", async () => {
  const redirectUrl = `http://127.0.0.1:${await freePort()}/callback`;
  const provider = new TestProvider({ redirectUrl, clientName: "TypeScript MCP SDK (DCR)" });
  const requests = [];
  const clientId = await connectAndCallTool(provider, requests);

  assert.ok(
    requests.includes(`POST ${issuer}/register`),
    `registered at the registration endpoint: ${requests.join(", ")}`,
  );
  assert.equal(provider.savedClients.length, 1, "registered once");
  const registered = provider.savedClients[0];
  assert.ok(!clientId.startsWith("https://"), `a client ID the server issued: ${clientId}`);
  assert.deepEqual(registered.redirect_uris, [redirectUrl]);
  assert.equal(registered.token_endpoint_auth_method, "none");
  assert.equal(registered.client_secret, undefined, "a public client has no secret");
});

test("TypeScript MCP SDK: a client ID metadata document over HTTPS, sign-in, consent, a tool call with a token for the MCP server", async () => {
  const redirectUrl = `http://127.0.0.1:${await freePort()}/callback`;
  const path = "/clients/typescript-mcp-sdk.json";
  const clientMetadataUrl = `${documentsBase}${path}`;
  const provider = new TestProvider({
    redirectUrl,
    clientMetadataUrl,
    clientName: "TypeScript MCP SDK (CIMD)",
  });
  served.set(path, { client_id: clientMetadataUrl, ...provider.clientMetadata });
  const requests = [];
  const clientId = await connectAndCallTool(provider, requests);

  assert.equal(clientId, clientMetadataUrl, "the document's URL is the client ID");
  assert.equal(provider.authorizationUrls[0].searchParams.get("client_id"), clientMetadataUrl);
  assert.ok(
    !requests.some((request) => request.startsWith("POST ") && request.endsWith("/register")),
    `no registration: ${requests.join(", ")}`,
  );
  assert.ok(fetchedDocuments.includes(path), "Portcullis fetched the document");
});
