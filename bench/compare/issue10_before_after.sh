#!/usr/bin/env bash
# Before/after in one script (issues 9 and 10): release builds of several commits,
# interleaved, on SQLite and on PostgreSQL, twice. Each argument is LABEL=DIR, DIR
# holding that build's `portcullis` and `portcullis-bench`, for example:
#
#   git worktree add /tmp/base 842d275 && (cd /tmp/base && cargo build --release \
#       -p portcullis-server -p portcullis-bench)
#   bash bench/compare/issue10_before_after.sh baseline=/tmp/base/target/release \
#       after=target/release > bench/compare/issue10_before_after.log
#
# POSTGRES (default postgres://postgres@127.0.0.1:5432/test) names the server the
# PostgreSQL runs create their databases on; ROUNDS (default 2) how many times each
# build runs on each of DATABASES (default "sqlite postgres"). The logs of the runs
# quoted in docs/performance.md are beside this script: issue10_before_after.log,
# and issue10_postgres_writer.log for the PostgreSQL writer of the second session.
# BENCH_ARGS (default none) is added to every run, e.g. "--scenarios a,c,d,e,f" when a
# build predates a scenario.
set -uo pipefail
postgres="${POSTGRES:-postgres://postgres@127.0.0.1:5432/test}"
rounds="${ROUNDS:-2}"           # how many times every build runs on every database
databases="${DATABASES:-sqlite postgres}"
run() { # label dir args...
  local label=$1 dir=$2; shift 2
  echo "### $label $*"
  PORTCULLIS_BENCH_BIN="$dir/portcullis" "$dir/portcullis-bench" "$@" 2>&1 \
    | grep -E "^\||^portcullis-bench|^pre-created|VmHWM|µs per request"
}
for round in $(seq "$rounds"); do
  for db in $databases; do
    # shellcheck disable=SC2206 # BENCH_ARGS is split into arguments on purpose
    args=(--duration 8 ${BENCH_ARGS:-})
    [ "$db" = postgres ] && args+=(--postgres "$postgres")
    for build in "$@"; do
      run "round $round $db ${build%%=*}" "${build#*=}" "${args[@]}"
    done
  done
done
