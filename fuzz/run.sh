#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each (default 600), one after
# the other, and prints each target's executions and whether it crashed. Not run by CI.
#
#   bash fuzz/run.sh                 # every target, 10 minutes each
#   SECONDS_EACH=60 bash fuzz/run.sh scope jose
#
# cargo-fuzz drives libFuzzer with flags only nightly rustc accepts; the project has
# one stable toolchain, so the script sets RUSTC_BOOTSTRAP=1 (which lets stable rustc
# take them) and builds with AddressSanitizer as cargo-fuzz does by default. Needs
# `cargo install cargo-fuzz`. New inputs go to fuzz/corpus/TARGET (only the seeds
# are committed); a crash is saved under fuzz/artifacts/TARGET and fails the script.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${SECONDS_EACH:-600}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(form_params token_request redirect_uri scope client_metadata jose)
fi
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is not installed: cargo install cargo-fuzz" >&2; exit 1; }
export RUSTC_BOOTSTRAP=1
status=0
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "work/$target"
  log="work/$target.log"
  # New inputs go to work/TARGET; the committed seeds in corpus/TARGET are only read.
  if cargo fuzz run --fuzz-dir . "$target" "work/$target" "corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=4096 >"$log" 2>&1; then
    outcome="no crash"
  else
    outcome="CRASH (see $log and artifacts/$target)"
    status=1
  fi
  runs=$(grep -Eo 'Done [0-9]+ runs' "$log" | tail -n1 | grep -Eo '[0-9]+' || echo "?")
  echo "$target: $runs executions in ${seconds}s, $outcome"
done
exit $status
