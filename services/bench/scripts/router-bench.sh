#!/usr/bin/env bash
# The "Router (single pod)" benchmarks of docs/benchmarks.md, as they were run.
#
#   services/bench/scripts/router-bench.sh [OUT_DIR]
#
# Builds `junction` in release mode, starts `junction router` pinned to core 0 and runs
# `junction bench` pinned to core 1 (2-core machine: router and load generator must not
# share a core). Each report is a JSON file in OUT_DIR (default target/bench-results).
# Optional: CROSSBAR=/path/to/venv/bin/crossbar runs the same pubsub and rpc scenarios
# against Crossbar.io (a minimal config, realm1, anonymous) for the comparison.
# DURATION (default 10) sets the measured window of each run in seconds. BUSY_POLL=1 runs
# the pubsub and rpc scenarios a second time with `--busy-poll` (reports *-busy-poll.json).
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${1:-target/bench-results}
DURATION=${DURATION:-10}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

cargo build --release -p junction
TARGET=${CARGO_TARGET_DIR:-$(pwd)/target}
BIN=$TARGET/release/junction
if "$BIN" bench --help >/dev/null 2>&1; then
    BENCH=("$BIN" bench)
else
    # Before `bench` is wired into the binary: the crate's standalone runner.
    cargo build --release -p junction-bench --example bench
    BENCH=("$TARGET/release/examples/bench")
fi

ROUTER_PID=""
URL=""
start_router() {
    local cfg="$OUT/router.toml"
    printf 'log = "warn"\n\n[router]\nlisten = "127.0.0.1:0"\n\n[[realms]]\nuri = "realm1"\nanonymous_role = "anonymous"\n' > "$cfg"
    taskset -c 0 "$BIN" router --config "$cfg" > "$OUT/router.out" 2> "$OUT/router.err" &
    ROUTER_PID=$!
    for _ in $(seq 100); do
        URL=$(grep -o 'ws://[^ ]*' "$OUT/router.out" 2>/dev/null | head -1 || true)
        [ -n "$URL" ] && return 0
        sleep 0.1
    done
    echo "router did not start:" >&2
    cat "$OUT/router.err" >&2
    exit 1
}
stop_router() {
    kill "$ROUTER_PID" 2>/dev/null || true
    wait "$ROUTER_PID" 2>/dev/null || true
}
trap stop_router EXIT

bench() {
    local name=$1
    shift
    echo "== $name" >&2
    taskset -c 1 "${BENCH[@]}" "$@" > "$OUT/$name.json"
}

# Machine
{
    echo "nproc: $(nproc)"
    grep -m1 'model name' /proc/cpuinfo
    echo "kernel: $(uname -r)"
    echo "open files (hard): $(ulimit -Hn)"
} > "$OUT/machine.txt"

MODES=("")
[ -n "${BUSY_POLL:-}" ] && MODES+=("--busy-poll")
start_router
for mode in "${MODES[@]}"; do
    suffix=${mode:+-busy-poll}
    for ser in json msgpack cbor; do
        bench "pubsub-$ser$suffix" pubsub --url "$URL" --serializer "$ser" --subscribers 100 --payload 100 \
            --duration "$DURATION" --half-rate --router-pid "$ROUTER_PID" $mode
    done
    for ser in json msgpack cbor; do
        bench "rpc-$ser$suffix" rpc --url "$URL" --serializer "$ser" --in-flight 16 --payload 100 \
            --duration "$DURATION" --half-rate --router-pid "$ROUTER_PID" $mode
    done
done
stop_router

# Idle sessions on a fresh router, so that "before" is the empty router's RSS. The
# sandbox's hard RLIMIT_NOFILE is 20,000 for every process, so the router cannot hold
# 20,000 sockets plus its own descriptors: 19,900 sessions is the most that fits.
SESSIONS=${SESSIONS:-19900}
start_router
bench idle idle --url "$URL" --sessions "$SESSIONS" --duration 10 --router-pid "$ROUTER_PID"
stop_router

if [ -n "${CROSSBAR:-}" ]; then
    CBDIR="$OUT/crossbar/.crossbar"
    mkdir -p "$CBDIR"
    cat > "$CBDIR/config.json" <<'EOF'
{
  "version": 2,
  "controller": {},
  "workers": [{
    "type": "router",
    "realms": [{
      "name": "realm1",
      "roles": [{
        "name": "anonymous",
        "permissions": [{
          "uri": "", "match": "prefix",
          "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
          "disclose": {"caller": false, "publisher": false}, "cache": true
        }]
      }]
    }],
    "transports": [{
      "type": "websocket",
      "endpoint": {"type": "tcp", "port": 8090, "interface": "127.0.0.1", "backlog": 4096},
      "serializers": ["json", "msgpack", "cbor"]
    }]
  }]
}
EOF
    taskset -c 0 "$CROSSBAR" start --cbdir "$CBDIR" > "$OUT/crossbar.log" 2>&1 &
    CB_PID=$!
    for _ in $(seq 120); do
        grep -q 'NODE_BOOT_COMPLETE' "$OUT/crossbar.log" && break
        sleep 0.5
    done
    WORKER=$(pgrep -f 'crossbar-worker' | head -1)
    for p in $(pgrep -f crossbar); do taskset -a -p -c 0 "$p" > /dev/null; done
    bench crossbar-pubsub-json pubsub --url ws://127.0.0.1:8090/ws --subscribers 100 --payload 100 \
        --duration "$DURATION" --half-rate --router-pid "$WORKER"
    bench crossbar-rpc-json rpc --url ws://127.0.0.1:8090/ws --in-flight 16 --payload 100 \
        --duration "$DURATION" --half-rate --router-pid "$WORKER"
    bench crossbar-idle idle --url ws://127.0.0.1:8090/ws --sessions 5000 --duration 5 --router-pid "$WORKER"
    kill "$CB_PID" 2>/dev/null || true
    wait "$CB_PID" 2>/dev/null || true
fi
echo "reports in $OUT" >&2
