#!/usr/bin/env bash
# Reproduces every number in docs/performance.md: release builds, a private
# redis-server, wrk (Lua scripts in scripts/bench/) for saturation runs, and
# the load tools of ivs-loadgen/ for paced load (paced_load), the /ws fan-out
# (ws_fanout) and the HTTP ceiling (bare_warp), and the viewer-bot example.
#
#   scripts/bench.sh                 # everything, ~10 minutes on 2 cores
#   BENCH_SKIP_CRITERION=1 scripts/bench.sh
#   BENCH_REPEATS=5 BENCH_SECS=20 scripts/bench.sh
#   BENCH_NO_BUILD=1 BENCH_HEARTBEAT_ONLY=1 scripts/bench.sh   # the heartbeat
#       runs only (ceiling, saturation, paced), with binaries already built
#
# Needs: wrk (apt-get install -y wrk), redis-server, curl. Only loopback
# addresses are used; every load run is bounded in time. Not run by CI.
# Run it on an otherwise idle machine: other load skews every number.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH_LUA=$ROOT/scripts/bench

REPEATS=${BENCH_REPEATS:-3}        # repeats of each saturation / paced run (median reported)
SECS=${BENCH_SECS:-10}             # length of one measured run, seconds
PACED_RATE=${BENCH_PACED_RATE:-2000}
VIEWERS=${BENCH_VIEWERS:-10000}    # viewers pre-loaded for the heartbeat runs
WS_SUBSCRIBERS=${BENCH_WS_SUBSCRIBERS:-1000}
BOTS=${BENCH_BOTS:-"1000 5000 10000"}
KEY=bench-key-000
WRK_THREADS=2
WRK_CONNS=${BENCH_WRK_CONNS:-50}

for tool in wrk redis-server redis-cli curl; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y wrk redis-server curl)"; exit 1; }
done

# shellcheck source=lib.sh
. scripts/lib.sh
bench_setup ivs-bench

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# CPU time (user + system, clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK_US=$(awk -v t="$(getconf CLK_TCK)" 'BEGIN {print 1000000 / t}')

section() { printf '\n==== %s\n' "$*"; }

# ---------------------------------------------------------------- machine
section "machine"
echo "date       $(date -u +%FT%TZ)"
echo "nproc      $(nproc)"
echo "cpu        $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "memory     $(awk '/MemTotal/ {printf "%.1f GiB\n", $2/1048576}' /proc/meminfo)"
echo "kernel     $(uname -sr)"
echo "rustc      $(rustc --version)"
echo "commit     $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
echo "redis      $(redis-server --version | awk '{print $3}')"
echo "wrk        $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
echo "load avg   $(cut -d' ' -f1-3 /proc/loadavg) (before building)"

# ---------------------------------------------------------------- build
section "build (release)"
if [ -z "${BENCH_NO_BUILD:-}" ]; then
# One command per package: built together, cargo would unify the tools'
# dependency features into the server's (resolver 2); alone, the server is the
# binary that is deployed.
cargo build --release -q -p ivs-server --bin ivs-server
cargo build --release -q -p ivs-loadgen
cargo build --release -q --example viewer-bot
echo "built the server, the load tools and viewer-bot"
fi
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release

# ---------------------------------------------------------------- redis
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
REDIS_PID=$!
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
RCLI=(redis-cli -p "$REDIS_PORT")
echo "private redis-server on 127.0.0.1:$REDIS_PORT"

# Keys of a prefix start with its hash tag: "hb:" → "{hb}:" (docs/redis.md).
tag() { echo "{${1%:}}:"; }
viewers_in() { "${RCLI[@]}" ZCARD "$(tag "$1")hb"; } # total viewers under a prefix
stages_in() { "${RCLI[@]}" ZCARD "$(tag "$1")stages"; }
# Commands the servers send: scripts (EVALSHA) and the heartbeat's plain
# ZADD (and its rare ZSCORE). No script that runs during the heartbeat runs
# calls ZADD or ZSCORE (nobody expires), so these counts are what was sent.
sent_calls() { "${RCLI[@]}" INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_\(evalsha\|zadd\|zscore\):calls=\([0-9]*\).*/\2/p' | awk '{s+=$1} END {print s+0}'; }
# Microseconds Redis spent executing commands (commandstats usec, all commands).
redis_usec() { "${RCLI[@]}" INFO commandstats | tr -d '\r' | grep -v '^cmdstat_info:' | sed -n 's/.*,usec=\([0-9]*\),.*/\1/p' | awk '{s+=$1} END {print s+0}'; }
# every command, including those a script runs (commandstats counts both)
all_calls() { "${RCLI[@]}" INFO commandstats | tr -d '\r' | grep -v '^cmdstat_info:' | sed -n 's/^cmdstat_[a-z|]*:calls=\([0-9]*\).*/\1/p' | awk '{s+=$1} END {print s+0}'; }

wrk_run() { # wrk_run OUTFILE URL SCRIPT [CONNS] — one saturation run of SECS seconds
    local out=$1 url=$2 script=$3 conns=${4:-$WRK_CONNS}
    wrk -t"$WRK_THREADS" -c"$conns" -d"${SECS}s" --latency -s "$BENCH_LUA/$script" "$url" >"$out" 2>&1
}

declare -A R   # results for the summary

if [ -z "${BENCH_HEARTBEAT_ONLY:-}" ]; then
# ---------------------------------------------------------------- start-up and idle memory
section "start-up time and idle memory (embedded defaults: in-process store, local IVS emulator)"
starts=()
for i in $(seq 5); do
    port=$(free_port)
    t0=$(date +%s%N)
    env -i PATH="$PATH" HOME="$HOME" IVS_BIND="127.0.0.1:$port" "$BIN/ivs-server" >"$WORK/default-$i.log" 2>&1 &
    pid=$!
    until curl -sf -o /dev/null "http://127.0.0.1:$port/health"; do :; done
    t1=$(date +%s%N)
    starts+=($(( (t1 - t0) / 1000000 )))
    if [ "$i" = 5 ]; then
        sleep 2
        R[idle_rss]=$(rss_kib "$pid")
    fi
    kill "$pid"; wait "$pid" 2>/dev/null || true
done
R[startup_ms]=$(printf '%s\n' "${starts[@]}" | median)
echo "exec → /health 200 (ms, 5 runs, curl-polled, ~3 ms resolution): ${starts[*]}; median ${R[startup_ms]}"
echo "idle RSS after start-up: ${R[idle_rss]} KiB"

# ---------------------------------------------------------------- joins
section "viewer joins at saturation (wrk -t$WRK_THREADS -c$WRK_CONNS, ${SECS}s, fresh prefix each run; IVS_MAX_STAGES=2000)"
jr=(); jp50=(); jp99=()
for i in $(seq "$REPEATS"); do
    start_server "join$i:" IVS_MAX_STAGES=2000
    BENCH_KEY=$KEY BENCH_USER_PREFIX="j$i" wrk_run "$WORK/join-$i.txt" "http://127.0.0.1:$SERVER_PORT" join.lua
    line=$(grep '^RESULT' "$WORK/join-$i.txt")
    echo "run $i: $line  → viewers $(viewers_in "join$i:") on $(stages_in "join$i:") stages"
    jr+=($(field rps <<<"$line")); jp50+=($(field p50 <<<"$line")); jp99+=($(field p99 <<<"$line"))
    stop_server
done
R[join_rps]=$(printf '%s\n' "${jr[@]}" | median)
R[join_p50]=$(printf '%s\n' "${jp50[@]}" | median)
R[join_p99]=$(printf '%s\n' "${jp99[@]}" | median)
echo "median: ${R[join_rps]} joins/s, p50 ${R[join_p50]} ms, p99 ${R[join_p99]} ms"

fi
# ---------------------------------------------------------------- heartbeat data set
section "pre-load $VIEWERS viewers through the API (paced joins, IVS_MAX_STAGES=250)"
start_server "hb:" IVS_MAX_STAGES=250 IVS_STATS_INTERVAL_MS=1000
HB_PORT=$SERVER_PORT
HB_PID=$SERVER_PID
preload_rate=$PACED_RATE
"$BIN/paced_load" --url "http://127.0.0.1:$HB_PORT/api/token/viewer" --rate "$preload_rate" \
    --duration "$(awk -v n="$VIEWERS" -v r="$preload_rate" 'BEGIN {print n/r}')" --warmup 0 \
    --header "x-api-key: $KEY" --join-prefix preload | tee "$WORK/preload.txt"
R[join_paced_p50]=$(field p50 <"$WORK/preload.txt")
R[join_paced_p99]=$(field p99 <"$WORK/preload.txt")
n=$(viewers_in "hb:")
k=0
while [ "$n" -lt "$VIEWERS" ]; do # top up anything that failed
    k=$((k + 1)); missing=$((VIEWERS - n))
    "$BIN/paced_load" --url "http://127.0.0.1:$HB_PORT/api/token/viewer" --rate 200 \
        --duration "$(awk -v m="$missing" 'BEGIN {print m/200}')" --warmup 0 \
        --header "x-api-key: $KEY" --join-prefix "topup$k" >/dev/null
    n=$(viewers_in "hb:")
done
PAIRS=$WORK/pairs.tsv
# Members of {p}hb are "<len(arn)>:<arn><userId>".
"${RCLI[@]}" --raw EVAL "local out={} for _,m in ipairs(redis.call('ZRANGE',KEYS[1],0,-1)) do local n,rest=string.match(m,'^(%d+):(.*)$') n=tonumber(n) out[#out+1]=string.sub(rest,n+1)..'\t'..string.sub(rest,1,n) end return out" 1 "$(tag hb:)hb" >"$PAIRS"
R[hb_stages]=$(stages_in "hb:")
echo "$n viewers on ${R[hb_stages]} stages; $(wc -l <"$PAIRS") (userId, stageArn) pairs in $PAIRS"

# ---------------------------------------------------------------- ceiling
section "baseline: bare warp, constant JSON (wrk, same heartbeat requests)"
BARE_PORT=$(free_port)
"$BIN/bare_warp" "127.0.0.1:$BARE_PORT" 2>/dev/null &
BARE_PID=$!
PIDS+=($BARE_PID)
sleep 0.3

# Alternate baseline and heartbeat runs so that slow drift in the shared
# machine's load affects both alike.
br=(); hr=(); hp50=(); hp99=(); cmds=(); inner=(); rus=(); rcpu=(); scpu=()
for i in $(seq "$REPEATS"); do
    BENCH_KEY=$KEY BENCH_PAIRS=$PAIRS wrk_run "$WORK/bare-$i.txt" "http://127.0.0.1:$BARE_PORT" heartbeat.lua
    echo "bare run $i:      $(grep '^RESULT' "$WORK/bare-$i.txt")"
    br+=($(field rps <"$WORK/bare-$i.txt"))
    c0=$(sent_calls); a0=$(all_calls); u0=$(redis_usec); r0=$(cpu_ticks "$REDIS_PID"); s0=$(cpu_ticks "$HB_PID")
    BENCH_KEY=$KEY BENCH_PAIRS=$PAIRS wrk_run "$WORK/hb-$i.txt" "http://127.0.0.1:$HB_PORT" heartbeat.lua
    c1=$(sent_calls); a1=$(all_calls); u1=$(redis_usec); r1=$(cpu_ticks "$REDIS_PID"); s1=$(cpu_ticks "$HB_PID")
    line=$(grep '^RESULT' "$WORK/hb-$i.txt")
    echo "heartbeat run $i: $line"
    reqs=$(field requests <<<"$line")
    cmds+=($(awk -v c=$((c1 - c0)) -v r="$reqs" 'BEGIN {printf "%.3f", c/r}'))
    inner+=($(awk -v c=$((a1 - a0 - c1 + c0)) -v r="$reqs" 'BEGIN {printf "%.3f", c/r}'))
    rus+=($(awk -v u=$((u1 - u0)) -v r="$reqs" 'BEGIN {printf "%.2f", u/r}'))
    # Whole-process CPU (commands, syscalls, event loop) per heartbeat.
    rcpu+=($(awk -v t=$((r1 - r0)) -v k="$TICK_US" -v r="$reqs" 'BEGIN {printf "%.2f", t*k/r}'))
    scpu+=($(awk -v t=$((s1 - s0)) -v k="$TICK_US" -v r="$reqs" 'BEGIN {printf "%.2f", t*k/r}'))
    hr+=($(field rps <<<"$line")); hp50+=($(field p50 <<<"$line")); hp99+=($(field p99 <<<"$line"))
done
kill "$BARE_PID"; wait "$BARE_PID" 2>/dev/null || true
R[bare_rps]=$(printf '%s\n' "${br[@]}" | median)
R[hb_rps]=$(printf '%s\n' "${hr[@]}" | median)
R[hb_p50]=$(printf '%s\n' "${hp50[@]}" | median)
R[hb_p99]=$(printf '%s\n' "${hp99[@]}" | median)
R[hb_cmds]=$(printf '%s\n' "${cmds[@]}" | median)
R[hb_redis_us]=$(printf '%s\n' "${rus[@]}" | median)
R[hb_redis_cpu]=$(printf '%s\n' "${rcpu[@]}" | median)
R[hb_server_cpu]=$(printf '%s\n' "${scpu[@]}" | median)
R[hb_ratio]=$(awk -v h="${R[hb_rps]}" -v b="${R[bare_rps]}" 'BEGIN {printf "%.1f", 100*h/b}')
echo "median: bare ${R[bare_rps]} req/s; heartbeat ${R[hb_rps]} req/s (${R[hb_ratio]} % of bare), p50 ${R[hb_p50]} ms, p99 ${R[hb_p99]} ms"
echo "Redis commands sent per heartbeat (EVALSHA + ZADD + ZSCORE / requests, INFO commandstats): ${cmds[*]}"
echo "commands run inside scripts per heartbeat: ${inner[*]}"
echo "Redis execution time per heartbeat (commandstats usec / requests): ${rus[*]} µs"
echo "redis-server process CPU per heartbeat (user+sys, /proc): ${rcpu[*]} µs"
echo "ivs-server process CPU per heartbeat (user+sys, /proc): ${scpu[*]} µs"
grep -h 'Non-2xx' "$WORK"/hb-*.txt || true

# ---------------------------------------------------------------- paced heartbeats
section "heartbeats at a fixed $PACED_RATE req/s (paced_load, open loop, ${SECS}s after 2s warm-up)"
pp50=(); pp99=(); pmax=()
for i in $(seq "$REPEATS"); do
    "$BIN/paced_load" --url "http://127.0.0.1:$HB_PORT/api/viewer/heartbeat" \
        --rate "$PACED_RATE" --duration "$SECS" --header "x-api-key: $KEY" --pairs "$PAIRS" >"$WORK/paced-$i.txt"
    echo "run $i: $(grep '^RESULT' "$WORK/paced-$i.txt")"
    pp50+=($(field p50 <"$WORK/paced-$i.txt")); pp99+=($(field p99 <"$WORK/paced-$i.txt")); pmax+=($(field max <"$WORK/paced-$i.txt"))
done
R[paced_p50]=$(printf '%s\n' "${pp50[@]}" | median)
R[paced_p99]=$(printf '%s\n' "${pp99[@]}" | median)
R[paced_max]=$(printf '%s\n' "${pmax[@]}" | median)
echo "median: p50 ${R[paced_p50]} ms, p99 ${R[paced_p99]} ms, max ${R[paced_max]} ms"

if [ -z "${BENCH_HEARTBEAT_ONLY:-}" ]; then
# ---------------------------------------------------------------- stats
section "/api/stats with $VIEWERS viewers on ${R[hb_stages]} stages"
BENCH_KEY=$KEY wrk_run "$WORK/stats.txt" "http://127.0.0.1:$HB_PORT" stats.lua 16
echo "saturation (wrk -c16): $(grep '^RESULT' "$WORK/stats.txt")"
R[stats_rps]=$(field rps <"$WORK/stats.txt")
R[stats_sat_p99]=$(field p99 <"$WORK/stats.txt")
"$BIN/paced_load" --url "http://127.0.0.1:$HB_PORT/api/viewer/heartbeat" \
    --rate "$PACED_RATE" --duration "$SECS" --header "x-api-key: $KEY" --pairs "$PAIRS" >"$WORK/mixed-hb.txt" &
mixed=$!
"$BIN/paced_load" --url "http://127.0.0.1:$HB_PORT/api/stats" \
    --rate 20 --duration "$SECS" --header "x-api-key: $KEY" >"$WORK/mixed-stats.txt"
wait "$mixed"
echo "20 stats/s during $PACED_RATE heartbeats/s: stats $(grep '^RESULT' "$WORK/mixed-stats.txt")"
echo "                                   heartbeats $(grep '^RESULT' "$WORK/mixed-hb.txt")"
R[stats_p50]=$(field p50 <"$WORK/mixed-stats.txt")
R[stats_p99]=$(field p99 <"$WORK/mixed-stats.txt")
R[mixed_hb_p99]=$(field p99 <"$WORK/mixed-hb.txt")
R[stats_bytes]=$(curl -s -H "x-api-key: $KEY" "http://127.0.0.1:$HB_PORT/api/stats" | wc -c)
echo "one /api/stats body: ${R[stats_bytes]} bytes"

# ---------------------------------------------------------------- /ws fan-out
section "/ws: $WS_SUBSCRIBERS subscribers, one update per second, $VIEWERS viewers on ${R[hb_stages]} stages (${R[stats_bytes]}-byte updates; server restarted first)"
stop_server
start_server "hb:" IVS_MAX_STAGES=250 IVS_STATS_INTERVAL_MS=1000
sleep 1
"$BIN/ws_fanout" --url "ws://127.0.0.1:$SERVER_PORT/ws?apiKey=$KEY" \
    --connections "$WS_SUBSCRIBERS" --duration 12 --pid "$SERVER_PID" | tee "$WORK/ws.txt"
for f in p50 p99 max rss_before_kib rss_subscribed_kib rss_end_kib hwm_kib; do R[ws_$f]=$(field "$f" <"$WORK/ws.txt"); done
stop_server

section "/ws: $WS_SUBSCRIBERS subscribers, 900 viewers on the default 20 stages (small updates)"
start_server "ws:" IVS_STATS_INTERVAL_MS=1000
"$BIN/paced_load" --url "http://127.0.0.1:$SERVER_PORT/api/token/viewer" --rate 300 --duration 3 \
    --warmup 0 --header "x-api-key: $KEY" --join-prefix ws >/dev/null
R[ws_small_bytes]=$(curl -s -H "x-api-key: $KEY" "http://127.0.0.1:$SERVER_PORT/api/stats" | wc -c)
echo "$(viewers_in "ws:") viewers on $(stages_in "ws:") stages; /api/stats body ${R[ws_small_bytes]} bytes"
sleep 1
"$BIN/ws_fanout" --url "ws://127.0.0.1:$SERVER_PORT/ws?apiKey=$KEY" \
    --connections "$WS_SUBSCRIBERS" --duration 12 --pid "$SERVER_PID" | tee "$WORK/ws-small.txt"
for f in p50 p99 max rss_before_kib rss_subscribed_kib rss_end_kib hwm_kib; do R[wss_$f]=$(field "$f" <"$WORK/ws-small.txt"); done
stop_server

# ---------------------------------------------------------------- viewer-bot
section "viewer-bot (release): memory and CPU per 1,000 simulated viewers"
start_server "bot:" IVS_MAX_STAGES=250
for n in $BOTS; do
    "$BIN/examples/viewer-bot" --server "http://127.0.0.1:$SERVER_PORT" --api-key "$KEY" \
        --viewers "$n" --ramp 10 --duration 30 --heartbeat-interval 10 --quiet >"$WORK/bot-$n.txt" 2>&1 || true
    rss=$(sed -n 's/^ *peak RSS *\([0-9.]*\) MiB.*/\1/p' "$WORK/bot-$n.txt")
    cpu=$(sed -n 's/^ *CPU time *\([0-9.]*\)s user + \([0-9.]*\)s system.*/\1 \2/p' "$WORK/bot-$n.txt" | awk '{printf "%.2f", $1+$2}')
    res=$(sed -n 's/^ *result *//p' "$WORK/bot-$n.txt")
    beats=$(awk '$1=="heartbeats" {print $2}' "$WORK/bot-$n.txt")
    hbl=$(awk '$1=="heartbeat" && NF>=6 {print $3 " / " $5}' "$WORK/bot-$n.txt")
    R[bot_${n}_rss]=$rss; R[bot_${n}_cpu]=$cpu
    printf 'bots %6s: peak RSS %s MiB (%s MiB per 1,000), CPU %s s over 30 s (%s s per 1,000), %s heartbeats, heartbeat p50/p99 %s ms, result %s\n' \
        "$n" "$rss" "$(awk -v r="$rss" -v n="$n" 'BEGIN {printf "%.1f", r*1000/n}')" \
        "$cpu" "$(awk -v c="$cpu" -v n="$n" 'BEGIN {printf "%.2f", c*1000/n}')" "$beats" "$hbl" "$res"
done
stop_server

# ---------------------------------------------------------------- criterion
if [ -z "${BENCH_SKIP_CRITERION:-}" ]; then
    section "criterion: cargo bench -p ivs-server --bench hot_paths"
    # criterion prints long names on their own line, the time on the next
    cargo bench -q -p ivs-server --bench hot_paths 2>&1 |
        awk '/time:/ { if ($1 == "time:") print prev, $0; else print } { prev = $0 }' || true
fi

fi
# ---------------------------------------------------------------- summary
section "summary (medians of $REPEATS runs where repeated)"
printf '%-52s %s\n' \
    "server start-up, exec → /health 200" "${R[startup_ms]} ms" \
    "server idle RSS (embedded defaults)" "$(awk -v k="${R[idle_rss]}" 'BEGIN {printf "%.1f MiB", k/1024}')" \
    "bare warp ceiling" "${R[bare_rps]} req/s" \
    "heartbeat at saturation ($VIEWERS viewers, Redis)" "${R[hb_rps]} req/s = ${R[hb_ratio]} % of ceiling, p50 ${R[hb_p50]} ms, p99 ${R[hb_p99]} ms" \
    "Redis commands sent per heartbeat" "${R[hb_cmds]} (Redis busy ${R[hb_redis_us]} µs, redis-server CPU ${R[hb_redis_cpu]} µs, ivs-server CPU ${R[hb_server_cpu]} µs per heartbeat)" \
    "heartbeat at $PACED_RATE req/s" "p50 ${R[paced_p50]} ms, p99 ${R[paced_p99]} ms, max ${R[paced_max]} ms" \
    "joins at saturation (from 0 viewers, ${SECS}s)" "${R[join_rps]} joins/s, p50 ${R[join_p50]} ms, p99 ${R[join_p99]} ms" \
    "joins at $PACED_RATE/s (0 → $VIEWERS viewers)" "p50 ${R[join_paced_p50]} ms, p99 ${R[join_paced_p99]} ms" \
    "/api/stats at saturation (${R[hb_stages]} stages)" "${R[stats_rps]} req/s, p99 ${R[stats_sat_p99]} ms, ${R[stats_bytes]} bytes" \
    "/api/stats at 20/s during $PACED_RATE heartbeats/s" "p50 ${R[stats_p50]} ms, p99 ${R[stats_p99]} ms (heartbeat p99 ${R[mixed_hb_p99]} ms)" \
    "/ws $WS_SUBSCRIBERS subs, ${R[hb_stages]} stages: server RSS" "$(awk -v a="${R[ws_rss_before_kib]}" -v b="${R[ws_rss_end_kib]}" -v h="${R[ws_hwm_kib]}" 'BEGIN {printf "%.1f MiB before, %.1f MiB subscribed (+%.1f), peak %.1f MiB", a/1024, b/1024, (b-a)/1024, h/1024}')" \
    "/ws arrival spread after the first subscriber" "p50 ${R[ws_p50]} ms, p99 ${R[ws_p99]} ms, max ${R[ws_max]} ms" \
    "/ws $WS_SUBSCRIBERS subs, 20 stages: server RSS" "$(awk -v a="${R[wss_rss_before_kib]}" -v b="${R[wss_rss_end_kib]}" -v h="${R[wss_hwm_kib]}" 'BEGIN {printf "%.1f MiB before, %.1f MiB subscribed (+%.1f), peak %.1f MiB", a/1024, b/1024, (b-a)/1024, h/1024}')" \
    "/ws 20 stages: arrival spread" "p50 ${R[wss_p50]} ms, p99 ${R[wss_p99]} ms, max ${R[wss_max]} ms (${R[ws_small_bytes]}-byte updates)"
for n in $BOTS; do
    printf '%-52s %s\n' "viewer-bot $n viewers" "peak RSS ${R[bot_${n}_rss]} MiB, CPU ${R[bot_${n}_cpu]} s over 30 s"
done
echo "load avg   $(cut -d' ' -f1-3 /proc/loadavg) (at the end)"
