#!/usr/bin/env bash
# `bash bench/load.sh` of two commits, interleaved, in one script: BASE (a worktree
# of the earlier commit, with its own target directory) and this checkout.
#
#   git worktree add /tmp/wt-base 6dee74c
#   BASE=/tmp/wt-base BASE_TARGET=/tmp/wt-base-target bash bench/compare/load_before_after.sh
#
# ROUNDS (default 2) rounds; LOAD_ARGS (default "--duration 8") go to every run. Both
# builds are made first, so nothing compiles while a run measures.
set -euo pipefail
cd "$(dirname "$0")/../.."
base="${BASE:?BASE names a worktree of the earlier commit}"
base_target="${BASE_TARGET:-$base/target}"
rounds="${ROUNDS:-2}"
# shellcheck disable=SC2206 # LOAD_ARGS is split into arguments on purpose
args=(${LOAD_ARGS:---duration 8})
(cd "$base" && CARGO_TARGET_DIR="$base_target" cargo build --release -q -p portcullis-server -p portcullis-bench)
cargo build --release -q -p portcullis-server -p portcullis-bench
for round in $(seq "$rounds"); do
  echo "### round $round before ($(git -C "$base" log --format=%h -1))"
  (cd "$base" && CARGO_TARGET_DIR="$base_target" bash bench/load.sh "${args[@]}") 2>&1 | grep -E "^\||VmHWM"
  echo "### round $round after ($(git log --format=%h -1))"
  bash bench/load.sh "${args[@]}" 2>&1 | grep -E "^\||VmHWM"
done
