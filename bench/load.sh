#!/usr/bin/env bash
# Load test of Portcullis (issue 5): builds the server and the bench in release mode,
# then runs `portcullis-bench ARGS` from the workspace root.
#
#   bench/load.sh                                    # every scenario on SQLite, 10 s each
#   bench/load.sh --duration 5 --scenarios a,c,f     # some scenarios
#   bench/load.sh --postgres postgres://postgres@127.0.0.1:5432/test
#   bench/load.sh external --token-url http://127.0.0.1:5000/oauth/token \
#       --client-id ID --client-secret S --pid "$SERVER_PID" --label authlib --with-hello
#   bench/load.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p portcullis-server -p portcullis-bench
target_dir="${CARGO_TARGET_DIR:-target}"
PORTCULLIS_BENCH_BIN="$target_dir/release/portcullis" exec "$target_dir/release/portcullis-bench" "$@"
