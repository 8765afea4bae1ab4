#!/usr/bin/env bash
# The "Across pods (Redis backplane)" benchmarks of docs/benchmarks.md, as they were run.
#
#   services/bench/scripts/cross-pod-bench.sh [OUT_DIR]
#
# Starts three `junction router` pods on one Redis (REDIS_URL, default
# redis://127.0.0.1:6379; a fresh key prefix per run) and runs, in one sitting:
#   - redis-benchmark PUBLISH on that Redis with two subscribers (the reference figure),
#     unpipelined and pipelined (-P 16);
#   - pub/sub: publisher on pod A, subscribers split over pods B and C, and the same run with
#     every client on pod A (same-pod baseline); with 100 subscribers (fan-out bound) and with
#     2 (Redis bound);
#   - RPC: callers on pod A, callee on pod B, and the same-pod baseline.
# Each report is a JSON file in OUT_DIR (default target/bench-results/cross-pod).
# DURATION (default 10) sets the measured window; SUBSCRIBERS (default 100) the fan-out.
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${1:-target/bench-results/cross-pod}
DURATION=${DURATION:-10}
SUBSCRIBERS=${SUBSCRIBERS:-100}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
REDIS_PORT=${REDIS_URL##*:}
PREFIX="bench-$(date +%s)-$$"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

cargo build --release -p junction
BIN=${CARGO_TARGET_DIR:-$(pwd)/target}/release/junction

PIDS=()
URLS=()
start_pod() {
    local name=$1
    printf 'log = "warn"\n\n[router]\nlisten = "127.0.0.1:0"\n\n[[realms]]\nuri = "realm1"\nanonymous_role = "anonymous"\n' > "$OUT/$name.toml"
    "$BIN" router --config "$OUT/$name.toml" --redis-url "$REDIS_URL" --redis-prefix "$PREFIX" > "$OUT/$name.out" 2> "$OUT/$name.err" &
    PIDS+=($!)
    local url=""
    for _ in $(seq 100); do
        url=$(grep -o 'ws://[^ ]*' "$OUT/$name.out" 2>/dev/null | head -1 || true)
        [ -n "$url" ] && break
        sleep 0.1
    done
    [ -n "$url" ] || { echo "pod $name did not start:" >&2; cat "$OUT/$name.err" >&2; exit 1; }
    URLS+=("$url")
}
stop_pods() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_pods EXIT
start_pod a
start_pod b
start_pod c
echo "pods: ${URLS[*]} (prefix $PREFIX)" >&2

# The reference: PUBLISH to a channel with two subscribers (as pods B and C would be).
REF_CHANNEL="$PREFIX-ref"
redis-cli -p "$REDIS_PORT" subscribe "$REF_CHANNEL" > /dev/null &
SUB1=$!
redis-cli -p "$REDIS_PORT" subscribe "$REF_CHANNEL" > /dev/null &
SUB2=$!
{
    echo "== redis-benchmark PUBLISH, 2 subscribers, 100 B"
    redis-benchmark -p "$REDIS_PORT" -n 1000000 -c 50 -d 100 -q PUBLISH "$REF_CHANNEL" __data__ 2>&1 | tr '\r' '\n' | grep -v '^$' | tail -1
    echo "== redis-benchmark PUBLISH, 2 subscribers, 100 B, pipelined -P 16"
    redis-benchmark -p "$REDIS_PORT" -n 4000000 -c 50 -P 16 -d 100 -q PUBLISH "$REF_CHANNEL" __data__ 2>&1 | tr '\r' '\n' | grep -v '^$' | tail -1
} | tee "$OUT/redis-benchmark.txt"
kill $SUB1 $SUB2 2>/dev/null || true

bench() {
    local name=$1
    shift
    echo "== $name" >&2
    "$BIN" bench "$@" --duration "$DURATION" --quiet > "$OUT/$name.json"
}
A=${URLS[0]} B=${URLS[1]} C=${URLS[2]}
bench pubsub-cross-pod pubsub --url "$A" --peer-url "$B" --peer-url "$C" --subscribers "$SUBSCRIBERS" --payload 100 --half-rate --router-pid "${PIDS[0]}"
bench pubsub-same-pod pubsub --url "$A" --subscribers "$SUBSCRIBERS" --payload 100 --half-rate --router-pid "${PIDS[0]}" --topic bench.same
# Redis-bound: one subscriber on B and one on C, so the events crossing Redis (two per
# publication) and not the fan-out to WebSockets are the limit; a wide window keeps the
# closed loop from waiting on latency.
bench pubsub-cross-pod-2subs pubsub --url "$A" --peer-url "$B" --peer-url "$C" --subscribers 2 --window 4096 --payload 100 --router-pid "${PIDS[0]}" --topic bench.two
bench pubsub-same-pod-2subs pubsub --url "$A" --subscribers 2 --window 4096 --payload 100 --router-pid "${PIDS[0]}" --topic bench.two.same
bench rpc-cross-pod rpc --url "$A" --peer-url "$B" --in-flight 16 --payload 100 --half-rate --router-pid "${PIDS[0]}"
bench rpc-same-pod rpc --url "$A" --in-flight 16 --payload 100 --half-rate --router-pid "${PIDS[0]}" --procedure bench.same
echo "reports in $OUT" >&2
