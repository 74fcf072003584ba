#!/usr/bin/env bash
# Webhooks and the join path (docs/performance.md, "Webhooks"): the join
# p50/p99 at a fixed rate with webhooks off, then on to a local receiver
# (ivs-loadgen's bare_warp, which answers every request 200), alternating,
# each run on a fresh Redis prefix; and whether the outbox keeps up: the
# endpoint group's undelivered events (XINFO GROUPS: lag + pending) sampled
# every 250 ms during the run, and how long it takes to reach 0 afterwards.
#
#   scripts/bench-webhooks.sh                       # 3 × (off, on), ~3 minutes
#   BENCH_REPEATS=5 BENCH_SECS=20 BENCH_PACED_RATE=2000 scripts/bench-webhooks.sh
#   BENCH_NO_BUILD=1 scripts/bench-webhooks.sh      # release binaries already built
#   BENCH_WEBHOOK_ENV="IVS_WEBHOOK_NICE=0" scripts/bench-webhooks.sh  # settings of the "on" server
#   BENCH_SERVER_ENV="TOKIO_WORKER_THREADS=1" scripts/bench-webhooks.sh  # of every server
#   BENCH_BASELINE_BIN=/tmp/ivs-server-old scripts/bench-webhooks.sh
#       # a third mode, "base": webhooks on with another build, interleaved
#       # with the two others (an A/B of two builds in one run)
#
# Needs redis-server, redis-cli and curl. Loopback only; not run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

REPEATS=${BENCH_REPEATS:-3}
SECS=${BENCH_SECS:-10}
RATE=${BENCH_PACED_RATE:-2000}
KEY=bench-key-000
# 32 bytes; a benchmark-only secret.
SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwJ4cXn0bV1sE=

for tool in redis-server redis-cli curl; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y redis-server curl)"; exit 1; }
done

# shellcheck source=lib.sh
. scripts/lib.sh
bench_setup ivs-bench-webhooks

echo "commit     $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
echo "nproc      $(nproc), load avg $(cut -d' ' -f1-3 /proc/loadavg)"

if [ -z "${BENCH_NO_BUILD:-}" ]; then
    cargo build --release -q -p ivs-server --bin ivs-server
    cargo build --release -q -p ivs-loadgen
fi
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

RECEIVER_PORT=$(free_port)
# The receiver stands in for one on another host: on a 2-core machine its
# CPU would otherwise be taken from the server's joins (BENCH_RECEIVER_NICE=0
# runs it at normal priority, as the first runs did).
nice -n "${BENCH_RECEIVER_NICE:-19}" "$BIN/bare_warp" "127.0.0.1:$RECEIVER_PORT" 2>"$WORK/receiver.log" &
PIDS+=($!)

# Events recorded and not yet acknowledged by every webhook group of a
# prefix: XINFO GROUPS' lag (not yet read) + pending (read, not acked).
undelivered() {
    redis-cli -p "$REDIS_PORT" XINFO GROUPS "{${1%:}}:events" 2>/dev/null |
        awk 'prev == "lag" || prev == "pending" {s += $1} {prev = $1} END {print s + 0}'
}

MODES="off on"
[ -n "${BENCH_BASELINE_BIN:-}" ] && MODES="off base on"
declare -A P50 P99 PEAK DRAIN SENT CPU
for i in $(seq "$REPEATS"); do
    for mode in $MODES; do
        prefix="wh$i$mode:"
        SERVER_BIN=
        [ "$mode" = base ] && SERVER_BIN=$BENCH_BASELINE_BIN
        if [ "$mode" != off ]; then
            # shellcheck disable=SC2086 # BENCH_WEBHOOK_ENV: extra `K=V` words
            start_server "$prefix" IVS_MAX_STAGES=2000 ${BENCH_SERVER_ENV:-} \
                IVS_WEBHOOK_URLS="http://127.0.0.1:$RECEIVER_PORT/hooks" IVS_WEBHOOK_SECRET="$SECRET" \
                ${BENCH_WEBHOOK_ENV:-}
        else
            # shellcheck disable=SC2086
            start_server "$prefix" IVS_MAX_STAGES=2000 ${BENCH_SERVER_ENV:-}
        fi
        : >"$WORK/backlog-$prefix"
        ( while :; do undelivered "$prefix" >>"$WORK/backlog-$prefix"; sleep 0.25; done ) &
        sampler=$!
        "$BIN/paced_load" --url "http://127.0.0.1:$SERVER_PORT/api/token/viewer" --rate "$RATE" \
            --duration "${SECS}s" --warmup 2s --header "x-api-key: $KEY" \
            --join-prefix "j$i$mode" >"$WORK/joins-$prefix" 2>&1
        ended=$(date +%s%N)
        drain=0
        if [ "$mode" != off ]; then
            until [ "$(undelivered "$prefix")" = 0 ]; do
                sleep 0.05
                if (( $(date +%s%N) - ended > 120000000000 )); then drain=timeout; break; fi
            done
            [ "$drain" = timeout ] || drain=$(( ($(date +%s%N) - ended) / 1000000 ))
            SENT[$i$mode]=$(curl -s -H "x-api-key: $KEY" "http://127.0.0.1:$SERVER_PORT/metrics" |
                awk '/^ivs_webhook_delivered_total/ {s += $2} END {print s + 0}')
        fi
        kill "$sampler"; wait "$sampler" 2>/dev/null || true
        # The server's CPU time for the whole run (start, warm-up, load, drain), ms.
        CPU[$i$mode]=$(awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) * 1000 / t}' "/proc/$SERVER_PID/stat")
        stop_server
        P50[$i$mode]=$(field p50 <"$WORK/joins-$prefix")
        P99[$i$mode]=$(field p99 <"$WORK/joins-$prefix")
        PEAK[$i$mode]=$(sort -g "$WORK/backlog-$prefix" | tail -1)
        DRAIN[$i$mode]=$drain
        printf 'run %s %-3s %s  server CPU %s ms, peak undelivered %s, drained %s ms after the load%s\n' "$i" "$mode" \
            "$(grep '^RESULT' "$WORK/joins-$prefix")" "${CPU[$i$mode]}" "${PEAK[$i$mode]:-0}" "$drain" \
            "$([ "$mode" != off ] && echo ", ${SENT[$i$mode]} delivered")"
    done
done

summary() { # summary MODE ARRAY-NAME
    local -n arr=$2
    for i in $(seq "$REPEATS"); do echo "${arr[$i$1]}"; done | median
}
echo
echo "median of $REPEATS runs at $RATE joins/s for ${SECS}s (after a 2 s warm-up):"
[ -n "${BENCH_BASELINE_BIN:-}" ] && echo "  (base: webhooks on, $BENCH_BASELINE_BIN)"
for mode in $MODES; do
    printf '  webhooks %-4s join p50 %s ms, p99 %s ms, server CPU %s ms' "$mode" "$(summary "$mode" P50)" \
        "$(summary "$mode" P99)" "$(summary "$mode" CPU)"
    [ "$mode" != off ] && printf ', peak undelivered %s events, drained %s ms after the load' \
        "$(summary "$mode" PEAK)" "$(summary "$mode" DRAIN)"
    echo
done
