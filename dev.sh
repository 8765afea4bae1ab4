#!/usr/bin/env bash
# Run the whole product on this machine: builds the dashboard (npm) when it is missing or older
# than its sources, then `cargo run --release -p junction -- dev`, which embeds it: the WAMP
# router on ws://127.0.0.1:8080/ws, the dashboard and the admin API on http://127.0.0.1:8081,
# state in ./junction-data. Arguments go to `junction dev`, e.g. ./dev.sh --data-dir /tmp/j.
set -euo pipefail
cd "$(dirname "$0")"

dash=dashboard
stale=""
if [ ! -f "$dash/dist/index.html" ]; then
  stale="not built yet"
elif [ -n "$(find "$dash/src" "$dash/public" "$dash/index.html" "$dash/package.json" "$dash/package-lock.json" "$dash/vite.config.ts" "$dash/tsconfig.json" \
            -newer "$dash/dist/index.html" -print -quit 2>/dev/null)" ]; then
  stale="sources changed"
fi

if [ -n "$stale" ]; then
  if ! command -v npm >/dev/null; then
    echo "dev.sh: the dashboard is $stale and needs Node.js 20.19+ with npm to build (apt-get install nodejs npm)." >&2
    echo "dev.sh: or run without it: cargo run --release -p junction -- dev" >&2
    exit 1
  fi
  echo "== dashboard: $stale; building it"
  if [ ! -f "$dash/node_modules/.package-lock.json" ] || [ "$dash/package-lock.json" -nt "$dash/node_modules/.package-lock.json" ]; then
    (cd "$dash" && npm ci --no-audit --no-fund)
  fi
  (cd "$dash" && npm run build)
fi

exec cargo run --release -p junction -- dev "$@"
