#!/usr/bin/env bash
# The Authlib peer (bench/peers/README.md).
#
#   bench/peers/authlib/run.sh install               # the venv at .venv beside this file
#   bench/peers/authlib/run.sh serve PORT DB [sync|gthread]
#       creates the tables and the client in the SQLite file DB, then runs gunicorn in
#       the foreground (exec: the caller's child is the gunicorn master) with 2 workers
#       on 127.0.0.1:PORT: sync workers (the reference setup; one request at a time per
#       worker, Connection: close after every response) or gthread workers with one
#       thread each (the same concurrency, but keep-alive).
#
# Environment: CLIENT_ID, CLIENT_SECRET (defaults in app.py), AUTHLIB_SQLITE_TUNING
# (wal | none, see app.py).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"

install() {
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        echo "authlib/run.sh: the python3 venv module is missing; installing python3-venv" >&2
        apt-get install -y python3-venv || { apt-get update && apt-get install -y python3-venv; }
    fi
    if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
        python3 -m venv --clear "$venv"
    fi
    # Nothing to fetch when the pinned versions are already there.
    if ! "$venv/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null \
        | diff -q <(grep -v '^#' "$here/requirements.txt" | sort -f) <(sort -f) >/dev/null; then
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            -r "$here/requirements.txt"
    fi
}

case "${1:-}" in
    install)
        install
        ;;
    serve)
        port="${2:?usage: run.sh serve PORT DB [sync|gthread]}"
        db="${3:?usage: run.sh serve PORT DB [sync|gthread]}"
        worker="${4:-sync}"
        [[ -x "$venv/bin/gunicorn" ]] || install
        export AUTHLIB_DB="$db" PYTHONDONTWRITEBYTECODE=1
        cd "$here"
        "$venv/bin/python" app.py init
        case "$worker" in
            sync) worker_args=(--worker-class sync) ;;
            gthread) worker_args=(--worker-class gthread --threads 1) ;;
            *) echo "authlib/run.sh: worker class must be sync or gthread" >&2; exit 2 ;;
        esac
        exec "$venv/bin/gunicorn" --workers 2 "${worker_args[@]}" \
            --bind "127.0.0.1:$port" --no-control-socket \
            --access-logfile /dev/null --log-level warning \
            'app:create_app()'
        ;;
    *)
        sed -n '2,14p' "$0" >&2
        exit 2
        ;;
esac
