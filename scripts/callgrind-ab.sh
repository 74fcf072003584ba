#!/usr/bin/env bash
# Instructions per request of two release builds of ivs-server, counted by
# valgrind's callgrind: the count does not depend on what else the machine is
# doing, so two builds can be compared on a busy machine, where wrk's req/s
# cannot (docs/performance.md). Each build runs alone under callgrind on one
# private Redis, with its own prefix:
#   1. joins VIEWERS viewers (not counted),
#   2. counts an idle interval, then HEARTBEATS heartbeats, then STATS
#      `GET /api/stats` requests, each interval dumped on its own,
#   3. prints instructions per request, the idle rate subtracted.
# CG_KEEP=1 keeps the dumps (<build>-heartbeat.cg, ...) for callgrind_annotate.
#
#   OLD=/path/to/old/ivs-server NEW=target/release/ivs-server scripts/callgrind-ab.sh
#
# The load tool (paced_load: cargo build --release -p ivs-loadgen) comes from
# TOOLS (default: the target directory's release/). Needs valgrind, redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."
NEW=${NEW:-${CARGO_TARGET_DIR:-target}/release/ivs-server}
OLD=${OLD:?set OLD to the other build}
TOOLS=${TOOLS:-${CARGO_TARGET_DIR:-target}/release}
VIEWERS=${CG_VIEWERS:-1000}
HEARTBEATS=${CG_HEARTBEATS:-3000}
STATS=${CG_STATS:-100}
RATE=${CG_RATE:-150}   # requests/s under callgrind (~50× slower than native)
KEY=bench-key-000

for tool in valgrind callgrind_control redis-server redis-cli; do
    command -v "$tool" >/dev/null || { echo "missing $tool"; exit 1; }
done
W=$(mktemp -d /tmp/ivs-cg.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "${CG_KEEP:-}" ]; then echo "dumps kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

# shellcheck source=lib.sh
. scripts/lib.sh

RP=$(free_port)
redis-server --port "$RP" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
    --dir "$W" >"$W/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.05; done

# Total instructions (Ir) of one callgrind dump file.
ir_of() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }
# Dumps the counters since the last zeroing into a new file; prints its Ir.
dump() { # pid
    local before after f
    before=$(ls "$W"/cg.out.* 2>/dev/null | wc -l)
    callgrind_control -d "$1" >/dev/null
    for _ in $(seq 200); do
        after=$(ls "$W"/cg.out.* 2>/dev/null | wc -l)
        [ "$after" -gt "$before" ] && break
        sleep 0.1
    done
    f=$(ls -t "$W"/cg.out.* | head -1)
    sleep 0.2
    cp "$f" "$W/$2.cg"
    ir_of "$f"
}

measure() { # name binary
    local name=$1 bin=$2 port pid
    port=$(free_port)
    rm -f "$W"/cg.out.*
    env -i PATH="$PATH" HOME="$HOME" IVS_BIND="127.0.0.1:$port" IVS_API_KEYS="$KEY:100000000" \
        REDIS_URL="redis://127.0.0.1:$RP/" IVS_REDIS_PREFIX="$name:" \
        IVS_HEARTBEAT_TIMEOUT_SECS=3600 IVS_SWEEP_INTERVAL_MS=3600000 IVS_MAX_STAGES=250 \
        IVS_STATS_INTERVAL_MS=3600000 \
        valgrind --tool=callgrind --callgrind-out-file="$W/cg.out.%p" \
        "$bin" >"$W/$name.log" 2>&1 &
    pid=$!
    PIDS+=($pid)
    for _ in $(seq 600); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/health" && break
        sleep 0.1
    done
    "$TOOLS/paced_load" --url "http://127.0.0.1:$port/api/token/viewer" --rate "$RATE" \
        --duration $((VIEWERS / RATE)) --warmup 0 --header "x-api-key: $KEY" \
        --join-prefix "cg-$name" | tail -1 >&2
    redis-cli -p "$RP" --raw EVAL "local out={} for _,m in ipairs(redis.call('ZRANGE',KEYS[1],0,-1)) do local n,rest=string.match(m,'^(%d+):(.*)$') n=tonumber(n) out[#out+1]=string.sub(rest,n+1)..'\t'..string.sub(rest,1,n) end return out" 1 "{$name}:hb" >"$W/$name.tsv"
    [ -s "$W/$name.tsv" ] || { echo "no viewers joined on $name" >&2; exit 1; }

    local idle_secs=5 hb_secs=$((HEARTBEATS / RATE)) st_secs=$((STATS * 10 / RATE))
    callgrind_control -z "$pid" >/dev/null
    sleep "$idle_secs"
    local idle hb st
    idle=$(dump "$pid" "$name-idle")
    callgrind_control -z "$pid" >/dev/null
    "$TOOLS/paced_load" --url "http://127.0.0.1:$port/api/viewer/heartbeat" --rate "$RATE" \
        --duration "$hb_secs" --warmup 0 --header "x-api-key: $KEY" --pairs "$W/$name.tsv" \
        | tail -1 >&2
    hb=$(dump "$pid" "$name-heartbeat")
    callgrind_control -z "$pid" >/dev/null
    "$TOOLS/paced_load" --url "http://127.0.0.1:$port/api/stats" --rate $((RATE / 10)) \
        --duration "$st_secs" --warmup 0 --header "x-api-key: $KEY" | tail -1 >&2
    st=$(dump "$pid" "$name-stats")
    kill "$pid" 2>/dev/null || true
    # The idle rate (timers, the runtime's parking) over each interval's
    # nominal length; the dump's own time is not counted, which errs small.
    awk -v n="$name" -v idle="$idle" -v is="$idle_secs" -v hb="$hb" -v hs="$hb_secs" \
        -v hn=$((RATE * hb_secs)) -v st="$st" -v ss="$st_secs" -v sn=$((RATE / 10 * st_secs)) 'BEGIN {
        rate = idle / is
        printf "%s idle %.0f Ir/s; heartbeat %.0f Ir; /api/stats %.0f Ir\n", n, rate,
            (hb - rate * hs) / hn, (st - rate * ss) / sn
    }'
}

echo "viewers $VIEWERS, heartbeats $HEARTBEATS, /api/stats $STATS, rate $RATE/s"
measure old "$OLD"
measure new "$NEW"
