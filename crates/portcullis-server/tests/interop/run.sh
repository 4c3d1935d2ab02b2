#!/usr/bin/env bash
# Authlib interoperability tests: Python's Authlib client, Authlib's JOSE verifying
# what the server signs, and Authlib's OpenID Connect client signing a user in,
# against a real `portcullis serve`.
#
# Run from the repository root (CI does): crates/portcullis-server/tests/interop/run.sh
# Set PORTCULLIS_BIN to test a prebuilt binary; otherwise this builds target/debug/portcullis.
# Extra arguments go to pytest (e.g. -k introspection). Exits non-zero when a test fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
venv="$here/.venv"

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    echo "run.sh: the python3 venv module is missing; installing python3-venv" >&2
    apt-get install -y python3-venv || { apt-get update && apt-get install -y python3-venv; }
fi

# Reuse the environment when it works; rebuild it when it is missing or broken.
if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    python3 -m venv --clear "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"

if [[ -n "${PORTCULLIS_BIN:-}" ]]; then
    bin="$PORTCULLIS_BIN"
else
    (cd "$repo" && cargo build -p portcullis-server)
    bin="$repo/target/debug/portcullis"
fi
if [[ ! -x "$bin" ]]; then
    echo "run.sh: no executable portcullis binary at $bin" >&2
    exit 1
fi
bin_dir="$(cd "$(dirname "$bin")" && pwd)"
export PORTCULLIS_BIN="$bin_dir/$(basename "$bin")"

cd "$here"
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the source tree
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" test_authlib.py test_jose.py test_oidc.py test_jwt_client_auth.py
