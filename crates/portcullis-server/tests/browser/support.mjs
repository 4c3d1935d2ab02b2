// What the browser tests share: the server binary and browser to use, the CLI, a
// `portcullis serve` on a free loopback port, a callback server standing in for the
// client's redirect URI, and PKCE.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../../../..');
const BIN = path.resolve(process.env.PORTCULLIS_BIN || path.join(REPO, 'target/debug/portcullis'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const CLIENT_NAME = 'Browser Test App';
const USERNAME = 'alice';
const PASSWORD = 'correct horse battery staple';
const WAIT_MS = 15_000; // any single browser wait
const STARTUP_MS = 30_000; // the server answering /healthz

/** The child's environment without PORTCULLIS_* settings that would change the server. */
function childEnv() {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PORTCULLIS_')) env[key] = value;
  }
  env.RUST_LOG = env.RUST_LOG || 'info';
  return env;
}

/** Runs a management command of the CLI; returns its JSON output. */
function cli(databaseUrl, args, input) {
  const result = spawnSync(BIN, ['--database-url', databaseUrl, ...args], {
    input: input ?? '',
    env: childEnv(),
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.error) throw result.error;
  assert.equal(
    result.status,
    0,
    `portcullis ${args.slice(0, 2).join(' ')} failed (status ${result.status}): ${result.stderr}`,
  );
  return JSON.parse(result.stdout);
}

/** A loopback port that was free a moment ago. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function base64url(buffer) {
  return buffer.toString('base64url');
}

/** A PKCE verifier and its S256 challenge (RFC 7636 §4.1–4.2). */
function pkce() {
  const verifier = base64url(randomBytes(32));
  const challenge = base64url(createHash('sha256').update(verifier, 'ascii').digest());
  return { verifier, challenge };
}

/** Starts `portcullis serve` with the settings of `extraEnv`; resolves once /healthz answers 200. */
async function startServer(databaseUrl, stderrLines, extraEnv = {}) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(BIN, ['--database-url', databaseUrl, 'serve', '--bind', `127.0.0.1:${port}`, '--issuer', base], {
    env: { ...childEnv(), ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  child.on('error', (error) => {
    exited = { error };
  });
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => stderrLines.push(...chunk.split('\n').filter(Boolean)));
  }
  const deadline = Date.now() + STARTUP_MS;
  for (;;) {
    if (exited) {
      throw new Error(`portcullis serve exited early (${JSON.stringify(exited)}):\n${stderrLines.join('\n')}`);
    }
    try {
      const response = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2_000) });
      if (response.status === 200) return { child, base, port };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`portcullis serve did not answer /healthz within ${STARTUP_MS} ms:\n${stderrLines.join('\n')}`);
    }
    await sleep(100);
  }
}

/** Stops a child process: SIGTERM, then SIGKILL if it has not exited in 5 s. */
async function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/**
 * A tiny server standing in for the client's redirect URI: it records where the
 * browser lands on `/callback` (and 404s anything else, e.g. the browser's favicon).
 */
async function startCallbackServer() {
  const hits = [];
  const server = http.createServer((request, response) => {
    const url = new URL(request.url, `http://${request.headers.host}`);
    if (url.pathname !== '/callback') {
      response.writeHead(404, { connection: 'close' }).end();
      return;
    }
    hits.push(url);
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', connection: 'close' });
    response.end('<!doctype html><title>Callback</title><p>callback received</p>');
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return { server, base: `http://127.0.0.1:${server.address().port}`, hits };
}

/** Closes a callback server from startCallbackServer. */
async function stopCallbackServer(callback) {
  if (!callback) return;
  const closed = new Promise((resolve) => callback.server.close(resolve));
  callback.server.closeAllConnections();
  await closed;
}

export {
  BIN, CHROMIUM, CHROMIUM_ARGS, CLIENT_NAME, USERNAME, PASSWORD, WAIT_MS, STARTUP_MS,
  childEnv, cli, freePort, sleep, base64url, pkce, startServer, stop,
  startCallbackServer, stopCallbackServer,
};
