#!/usr/bin/env bash
# Interoperability, Node side: Node's `jose` verifies what a real `portcullis serve`
# signs, across a key rotation; Node's `openid-client` signs a user in with OpenID
# Connect (discovery, code + PKCE + nonce, ID token, UserInfo, refresh).
#
#   bash crates/portcullis-server/tests/interop-node/run.sh   (from the repository root)
#
# Installs Node.js and npm only if absent, runs `npm ci` here, builds the server unless
# PORTCULLIS_BIN names a binary, then runs the test with Node's test runner.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"

log() { printf '==> %s\n' "$*" >&2; }

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q nodejs npm
fi

log "npm ci ($(node --version), npm $(npm --version))"
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

if [ -n "${PORTCULLIS_BIN:-}" ]; then
  bin="$PORTCULLIS_BIN"
else
  log "cargo build -p portcullis-server"
  (cd "$repo" && cargo build -p portcullis-server)
  target_dir="${CARGO_TARGET_DIR:-$repo/target}"
  case "$target_dir" in /*) ;; *) target_dir="$repo/$target_dir" ;; esac
  bin="$target_dir/debug/portcullis"
fi
if [ ! -x "$bin" ]; then
  log "no portcullis binary at $bin"
  exit 1
fi
PORTCULLIS_BIN="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
export PORTCULLIS_BIN

log "node --test jwks_rotation.test.mjs openid_client.test.mjs (server: $PORTCULLIS_BIN)"
cd "$here"
exec node --test --test-reporter=spec jwks_rotation.test.mjs openid_client.test.mjs
