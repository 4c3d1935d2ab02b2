#!/usr/bin/env bash
# Load test of the peers users would pick instead of Portcullis (issue 5), each through
# `portcullis-bench external --with-hello`, plus Portcullis itself when its release
# binary is there. See bench/peers/README.md.
#
#   cargo build --release -p portcullis-bench     # once (and -p portcullis-server for the
#                                                 # Portcullis rows)
#   bench/peers/run.sh                            # default peers, 10 s per scenario
#   bench/peers/run.sh --duration 5 --peers authlib,oidc-provider
#
# Options:
#   --duration N       seconds per scenario (default 10)
#   --connections N    keep-alive connections of the generator (default 32)
#   --peers LIST       comma-separated, in order (default: portcullis,authlib,
#                      oidc-provider,oidc-provider-cluster2). Also available:
#                      authlib-gthread (gunicorn gthread workers, keep-alive) and
#                      oidc-provider-cluster2-local (per-worker stores: cc-opaque only)
#
# Environment: CARGO_TARGET_DIR (default target), BENCH_BIN (default
# $CARGO_TARGET_DIR/release/portcullis-bench), PORTCULLIS_BIN (default
# $CARGO_TARGET_DIR/release/portcullis; the portcullis row is skipped without it).
#
# Installs what is missing from PyPI (pip) and the npm registry (npm), nothing else.
# Every server listens on 127.0.0.1 on a free port; each is stopped (its whole process
# group) after its run, and on any exit of this script.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
peers_dir="$repo/bench/peers"
target_dir="${CARGO_TARGET_DIR:-target}"
[[ "$target_dir" = /* ]] || target_dir="$repo/$target_dir"
bench="${BENCH_BIN:-$target_dir/release/portcullis-bench}"
portcullis="${PORTCULLIS_BIN:-$target_dir/release/portcullis}"
cd "$repo"

duration=10
connections=32
peers="portcullis,authlib,oidc-provider,oidc-provider-cluster2"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration) duration="${2:?--duration N}"; shift 2 ;;
        --connections) connections="${2:?--connections N}"; shift 2 ;;
        --peers) peers="${2:?--peers LIST}"; shift 2 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$duration" =~ ^[0-9]+$ && "$duration" -ge 1 && "$duration" -le 600 ]] \
    || { echo "run.sh: --duration must be 1..600" >&2; exit 2; }
[[ "$connections" =~ ^[0-9]+$ && "$connections" -ge 1 ]] \
    || { echo "run.sh: --connections must be a positive number" >&2; exit 2; }

if [[ ! -x "$bench" ]]; then
    echo "run.sh: no $bench: run 'cargo build --release -p portcullis-bench' first" >&2
    exit 1
fi

CLIENT_ID="bench-client"
CLIENT_SECRET="bench-secret-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export CLIENT_ID CLIENT_SECRET

work="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-peers.XXXXXX")"
server_pgid=""
bench_pgid=""
tail_pid=""

stop_server() {
    [[ -n "$server_pgid" ]] || return 0
    local pgid="$server_pgid"
    server_pgid=""
    kill -TERM -- "-$pgid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 -- "-$pgid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL -- "-$pgid" 2>/dev/null || true
}
cleanup() {
    if [[ -n "$bench_pgid" ]]; then
        kill -TERM -- "-$bench_pgid" 2>/dev/null || true
    fi
    if [[ -n "$tail_pid" ]]; then
        kill -TERM "$tail_pid" 2>/dev/null || true
    fi
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Starts "$@" in its own process group (so that stop_server ends its workers too);
# the group's id is the started process's pid, which the command keeps through exec.
start_server() {
    local log="$1"
    shift
    setsid "$@" >"$log" 2>&1 </dev/null &
    server_pgid=$!
    # setsid forks (and the pid is not the group's) only when called as a group leader.
    sleep 0.2
    local pgid
    pgid="$(ps -o pgid= -p "$server_pgid" | tr -d ' ' || true)"
    if [[ -n "$pgid" && "$pgid" != "$server_pgid" ]]; then
        echo "run.sh: the server's pid $server_pgid is not its process group's ($pgid)" >&2
        kill -TERM "$server_pgid" 2>/dev/null || true
        server_pgid=""
        return 1
    fi
}

# Waits until a client_credentials request succeeds (at most 60 s).
wait_ready() {
    local url="$1" log="$2"
    local deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$server_pgid" 2>/dev/null; then
            echo "run.sh: the server exited before answering; its log:" >&2
            tail -n 30 "$log" >&2
            return 1
        fi
        local code
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
            -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials "$url" || true)"
        [[ "$code" == 200 ]] && return 0
        sleep 0.3
    done
    echo "run.sh: no 200 from $url within 60 s; the server's log:" >&2
    tail -n 30 "$log" >&2
    return 1
}

# Runs `timeout SECONDS COMMAND...` with its output in OUT (shown as it comes), in the
# background so that a signal to this script is handled at once; timeout puts itself
# and the generator (and its hello server) in their own process group, which cleanup
# ends. Returns the command's status.
run_bounded() {
    local out="$1" seconds="$2"
    shift 2
    : >"$out"
    timeout --kill-after=10 "$seconds" "$@" >"$out" 2>&1 </dev/null &
    bench_pgid=$!
    tail -n +1 -f --pid="$bench_pgid" "$out" &
    tail_pid=$!
    local status=0
    wait "$bench_pgid" || status=$?
    bench_pgid=""
    wait "$tail_pid" 2>/dev/null || true
    tail_pid=""
    return "$status"
}

rows="$work/rows.md"
summaries="$work/summaries.txt"
: >"$rows"
: >"$summaries"
failed=()

# Runs the generator against the server started last, then stops it.
measure() {
    local label="$1" token_url="$2" introspect_url="$3"
    local out="$work/$label.out"
    local args=(external --token-url "$token_url" --client-id "$CLIENT_ID"
        --client-secret "$CLIENT_SECRET" --pid "$server_pgid" --label "$label"
        --with-hello --duration "$duration" --connections "$connections")
    [[ -z "$introspect_url" ]] || args+=(--introspect-url "$introspect_url")
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    # Three scenarios at most, plus setup: bounded.
    local status=0
    run_bounded "$out" $((duration * 3 + 90)) "$bench" "${args[@]}" || status=$?
    if ((status != 0)) || grep -q '^| .* | failed: ' "$out"; then
        failed+=("$label")
    fi
    grep -E '^\| (hello|'"$label"' )' "$out" \
        | sed -E "s/^\\| hello /| hello (with $label) /" >>"$rows" || true
    grep -E ' req/s  p50 |^    first error|FAILED' "$out" \
        | sed -E "s/^hello                   /hello (with $label) /" >>"$summaries" || true
    echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
    stop_server
}

run_peer() {
    local peer="$1" port log
    port="$(free_port)"
    log="$work/$peer.log"
    echo
    echo "=== $peer (127.0.0.1:$port) ==="
    case "$peer" in
        portcullis)
            if [[ ! -x "$portcullis" ]]; then
                echo "skipped: no $portcullis (cargo build --release -p portcullis-server)"
                return 0
            fi
            echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
            local out="$work/portcullis.out" status=0
            run_bounded "$out" $((duration * 3 + 120)) "$bench" run \
                --portcullis-bin "$portcullis" --scenarios a,c,f \
                --duration "$duration" --connections "$connections" || status=$?
            if ((status != 0)) || grep -q '^| .* | failed: ' "$out"; then
                failed+=("$peer")
            fi
            grep -E '^\| (cc-opaque|introspect|hello) ' "$out" \
                | sed -E -e 's/^\| (cc-opaque|introspect) /| portcullis \1 /' \
                    -e 's/^\| hello /| hello (with portcullis) /' >>"$rows" || true
            grep -E ' req/s  p50 |^    first error|FAILED' "$out" \
                | sed -E -e 's/^(cc-opaque|introspect) /portcullis \1/' \
                    -e 's/^hello                   /hello (with portcullis) /' >>"$summaries" || true
            echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
            return 0
            ;;
        authlib|authlib-gthread)
            local worker=sync
            [[ "$peer" == authlib-gthread ]] && worker=gthread
            start_server "$log" bash "$peers_dir/authlib/run.sh" serve "$port" \
                "$work/authlib.db" "$worker" || { failed+=("$peer"); return 0; }
            local base="http://127.0.0.1:$port/oauth"
            wait_ready "$base/token" "$log" || { failed+=("$peer"); stop_server; return 0; }
            measure "$peer" "$base/token" "$base/introspect"
            rm -f "$work"/authlib.db*
            ;;
        oidc-provider|oidc-provider-cluster2|oidc-provider-cluster2-local)
            local workers=1 store=shared introspect=yes
            case "$peer" in
                oidc-provider-cluster2) workers=2 ;;
                oidc-provider-cluster2-local) workers=2 store=local introspect="" ;;
            esac
            start_server "$log" bash "$peers_dir/oidc-provider/run.sh" serve "$port" \
                "$workers" "$store" || { failed+=("$peer"); return 0; }
            local base="http://127.0.0.1:$port"
            wait_ready "$base/token" "$log" || { failed+=("$peer"); stop_server; return 0; }
            measure "$peer" "$base/token" "${introspect:+$base/token/introspection}"
            ;;
        *)
            echo "run.sh: unknown peer $peer" >&2
            failed+=("$peer")
            ;;
    esac
}

# Run copies of the binaries: a rebuild of target/ during the run (the tree may be
# shared) would otherwise delete the running generator's file, and the generator starts
# its hello server from its own file.
built() { date -r "$1" '+%Y-%m-%d %H:%M:%S'; }
echo "generator: $bench (built $(built "$bench"))"
cp "$bench" "$work/portcullis-bench"
bench="$work/portcullis-bench"
if [[ -x "$portcullis" ]]; then
    echo "portcullis: $portcullis (built $(built "$portcullis"))"
    cp "$portcullis" "$work/portcullis"
    portcullis="$work/portcullis"
fi

IFS=',' read -r -a selected <<<"$peers"
for peer in "${selected[@]}"; do
    case "$peer" in
        authlib|authlib-gthread)
            timeout 600 bash "$peers_dir/authlib/run.sh" install ;;
        oidc-provider*)
            timeout 600 bash "$peers_dir/oidc-provider/run.sh" install ;;
    esac
done

echo "portcullis-bench peers: ${selected[*]}; $duration s per scenario, $connections connections; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for peer in "${selected[@]}"; do
    run_peer "$peer"
done

echo
echo "=== all rows (each hello row was measured right after the rows above it) ==="
echo "| scenario | req/s | % of hello | p50 ms | p99 ms | errors | peak RSS MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|"
cat "$rows"
echo
echo "the same, with the CPU used by the server and by the generator (% of one core):"
cat "$summaries"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if ((${#failed[@]})); then
    echo "run.sh: failed: ${failed[*]}" >&2
    exit 1
fi
