#!/usr/bin/env bash
# Interoperability with the official MCP client SDKs: TypeScript's
# `@modelcontextprotocol/sdk` and Python's `mcp` connect to an MCP server
# (examples/mcp_server.rs, rmcp) protected by a real `portcullis serve`, each twice:
# registering by dynamic client registration (RFC 7591), and by a client ID metadata
# document (draft-ietf-oauth-client-id-metadata-document) served over HTTPS; each run
# signs a user in, ends with a tool call, and checks the token's `aud` is the MCP server.
#
#   bash crates/portcullis-server/tests/mcp/run.sh   (from the repository root)
#
# Installs Node.js/npm and python3-venv only if absent, runs `npm ci` here and installs
# requirements.txt into .venv. Builds the server unless PORTCULLIS_BIN names a binary,
# and the example unless MCP_SERVER_BIN names one. Makes a throwaway certificate
# authority and a certificate for 127.0.0.1 with openssl for the metadata documents.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
venv="$here/.venv"

log() { printf '==> %s\n' "$*" >&2; }

export DEBIAN_FRONTEND=noninteractive
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt-get update -q && apt-get install -y -q nodejs npm
fi
if ! command -v openssl >/dev/null 2>&1; then
  apt-get update -q && apt-get install -y -q openssl
fi
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  apt-get install -y -q python3-venv || { apt-get update -q && apt-get install -y -q python3-venv; }
fi

log "npm ci ($(node --version), npm $(npm --version))"
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

log "pip install -r requirements.txt ($(python3 --version))"
if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  python3 -m venv --clear "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"

target_dir="${CARGO_TARGET_DIR:-$repo/target}"
case "$target_dir" in /*) ;; *) target_dir="$repo/$target_dir" ;; esac
absolute() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }

if [ -n "${PORTCULLIS_BIN:-}" ]; then
  bin="$PORTCULLIS_BIN"
else
  log "cargo build -p portcullis-server"
  (cd "$repo" && cargo build -p portcullis-server)
  bin="$target_dir/debug/portcullis"
fi
if [ -n "${MCP_SERVER_BIN:-}" ]; then
  mcp_bin="$MCP_SERVER_BIN"
else
  log "cargo build --example mcp_server"
  (cd "$repo" && cargo build -p portcullis --example mcp_server)
  mcp_bin="$target_dir/debug/examples/mcp_server"
fi
for b in "$bin" "$mcp_bin"; do
  if [ ! -x "$b" ]; then
    log "no executable at $b"
    exit 1
  fi
done
PORTCULLIS_BIN="$(absolute "$bin")"
MCP_SERVER_BIN="$(absolute "$mcp_bin")"
export PORTCULLIS_BIN MCP_SERVER_BIN

# The certificate authority the server is told to trust (fetch_ca_file), and the
# certificate of the metadata documents' HTTPS server, for 127.0.0.1.
tls="$(mktemp -d)"
trap 'rm -rf "$tls"' EXIT
log "openssl: a test CA and a certificate for 127.0.0.1 in $tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Portcullis MCP test CA" \
  -keyout "$tls/ca.key" -out "$tls/ca.pem" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
  "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1" >"$tls/server.ext"
openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
  -CAcreateserial -days 2 -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
export MCP_TEST_CA_FILE="$tls/ca.pem" MCP_TEST_TLS_CERT="$tls/server.pem" \
  MCP_TEST_TLS_KEY="$tls/server.key"

cd "$here"
status=0
log "node --test mcp_sdk.test.mjs (server: $PORTCULLIS_BIN, MCP server: $MCP_SERVER_BIN)"
node --test --test-reporter=spec mcp_sdk.test.mjs || status=1
log "pytest test_mcp_sdk.py"
PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" \
  test_mcp_sdk.py || status=1
exit "$status"
