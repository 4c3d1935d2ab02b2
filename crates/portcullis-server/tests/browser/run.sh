#!/usr/bin/env bash
# The browser tests' one entry point: headless Debian Chromium, driven by Playwright,
# signs in and consents against a real `portcullis serve` (login_consent.test.mjs), and
# checks every page at desktop and phone width, light and dark, with axe-core
# (pages.test.mjs).
#
#   bash crates/portcullis-server/tests/browser/run.sh      (from the repository root)
#
# Installs what a new Debian machine lacks (chromium; node and npm only if absent),
# runs `npm ci` here, builds the server unless PORTCULLIS_BIN names a binary, then runs
# the test with Node's test runner. Exits non-zero when anything fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    log "need root to run: $*"
    return 1
  fi
}

apt_updated=0
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    as_root apt-get update -q
    apt_updated=1
  fi
  log "apt-get install -y $*"
  as_root apt-get install -y -q "$@"
}

if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  log "Node.js $(node --version) is too old: playwright-core needs Node.js 20 or later"
  exit 1
fi

log "npm ci ($(node --version), npm $(npm --version), $(/usr/bin/chromium --version 2>/dev/null))"
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

log "node --test login_consent.test.mjs pages.test.mjs (server: $PORTCULLIS_BIN)"
cd "$here"
exec node --test --test-reporter=spec login_consent.test.mjs pages.test.mjs
