#!/usr/bin/env bash
# The dashboard's tests, installing what they need when it is missing:
#   1. npm packages (npm ci, from package-lock.json) when node_modules is absent or stale;
#   2. Debian's Chromium (apt-get) when /usr/bin/chromium is absent (never a browser download);
#   3. npm run build (type-check + Vite) -> dashboard/dist;
#   4. npm test (Vitest: unit and component tests);
#   5. the end-to-end journey in headless Chromium against the real `junction dev`
#      (e2e/run.mjs), screenshots in tests/artifacts/e2e/.
#
# JUNCTION_BIN names the binary to test; by default target/debug/junction (under
# CARGO_TARGET_DIR when set), built here with `cargo build -p junction` when JUNCTION_BIN is not
# given. Every journey step counts; SKIP_E2E=1 stops after Vitest (for a quick local loop).
set -euo pipefail
cd "$(dirname "$0")"
repo="$(cd .. && pwd)"

need_node() {
  if ! command -v node >/dev/null; then
    echo "dashboard/test.sh: Node.js 20.19+ is needed (apt-get install nodejs npm, or your toolchain)" >&2
    exit 1
  fi
}
need_node

if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund
fi

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ -z "${SKIP_E2E:-}" ] && [ ! -x "$CHROMIUM" ]; then
  echo "== apt-get install chromium"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium
fi

echo "== build"
npm run build

echo "== vitest"
npm test

if [ -n "${SKIP_E2E:-}" ]; then
  exit 0
fi

if [ -z "${JUNCTION_BIN:-}" ]; then
  echo "== cargo build -p junction"
  (cd "$repo" && cargo build --quiet -p junction)
  JUNCTION_BIN="${CARGO_TARGET_DIR:-$repo/target}/debug/junction"
fi
if [ ! -x "$JUNCTION_BIN" ]; then
  echo "dashboard/test.sh: JUNCTION_BIN=$JUNCTION_BIN is not an executable (cargo build -p junction)" >&2
  exit 1
fi

echo "== e2e ($JUNCTION_BIN)"
CHROMIUM="$CHROMIUM" JUNCTION_BIN="$JUNCTION_BIN" node e2e/run.mjs
