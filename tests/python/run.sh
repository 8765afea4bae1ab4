#!/usr/bin/env bash
# Runs the autobahn-python integration suite against the real junction binary.
#   JUNCTION_BIN   the binary to test (default: <repo>/target/debug/junction)
#   PYTEST_ARGS    extra arguments for pytest (e.g. "-k rpc -x")
# Exits with pytest's exit code.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

export JUNCTION_BIN="${JUNCTION_BIN:-$repo/target/debug/junction}"
if [[ ! -x "$JUNCTION_BIN" ]]; then
    echo "run.sh: junction binary not found or not executable: $JUNCTION_BIN (build it with: cargo build -p junction)" >&2
    exit 2
fi

venv="$here/.venv"
stamp="$venv/.requirements.sha256"
want="$( (cat requirements.txt; python3 --version) | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt
    echo "$want" > "$stamp"
fi

# shellcheck disable=SC2086
exec "$venv/bin/python" -m pytest -q --timeout=60 ${PYTEST_ARGS:-} "$@"
