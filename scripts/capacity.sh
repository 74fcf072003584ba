#!/usr/bin/env bash
# Measures what one viewer costs (server CPU, Redis CPU, Redis commands,
# Redis memory) on a private 3-primary Redis Cluster with several
# deployments (IVS_REDIS_PREFIX values) and several ivs-server processes,
# then prints the capacity table of docs/capacity.md for 10k, 100k and 1M
# concurrent viewers from those measurements and the rules stated there.
#
#   scripts/capacity.sh                          # ~3 minutes on 2 cores
#   BIN=/path/to/target/release scripts/capacity.sh
#   CAP_HB_RATES="200 800" CAP_HB_SECS=20 scripts/capacity.sh
#
# Needs: release builds of ivs-server and ivs-loadgen's paced_load in $BIN
# (cargo build --release -p ivs-server --bin ivs-server, then
# cargo build --release -p ivs-loadgen --bin paced_load: two commands, so that
# the server is built with its own features only, as it is deployed),
# redis-server and redis-cli (cluster mode), curl, awk. Loopback only; every
# load run is bounded in time; every process it starts is stopped on exit.
# Run it on an otherwise idle machine. Not run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release}
KEY=cap-key-000 # API keys have at least 8 characters
HB_RATES=${CAP_HB_RATES:-"150 300"} # heartbeats/s sent to EACH server process, one run per rate (the table uses the last; 500 saturates 2 cores)
HB_SECS=${CAP_HB_SECS:-15}        # each measured heartbeat run (after 2 s warm-up)
IDLE_SECS=${CAP_IDLE_SECS:-10}    # idle run for the background cost (two maintenance rounds)
HB_SUMMARY=
BIG=${CAP_VIEWERS:-10000}         # viewers of the large deployment (memory at 1,000 and at this)
SMALL=${CAP_SMALL_VIEWERS:-2000}  # viewers of each of the two other deployments
JOIN_SECS=${CAP_JOIN_SECS:-10}    # the measured join run takes about this long

for tool in redis-server redis-cli curl awk ss; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y redis-server curl)"; exit 1; }
done
for b in "$BIN/ivs-server" "$BIN/paced_load"; do
    [ -x "$b" ] || {
        echo "missing $b: build the release binaries first"
        echo "  cargo build --release -p ivs-server --bin ivs-server"
        echo "  cargo build --release -p ivs-loadgen --bin paced_load"
        echo "  (or point BIN at the directory that holds them)"
        exit 1
    }
done

# shellcheck source=lib.sh
. scripts/lib.sh
bench_setup ivs-capacity
trap 'exit 130' INT TERM

port_free() { [ -z "$(ss -Htan "sport = :$1")" ]; } # no socket at all on it, listening or not
# A cluster node needs P and its bus port P + 10000.
free_cluster_port() {
    local p
    while :; do
        # Both below the ephemeral range (lib.sh, ephemeral_ports).
        p=$(shuf -i 10000-22000 -n 1)
        port_free "$p" && port_free $((p + 10000)) && { echo "$p"; return; }
    done
}
section() { printf '\n==== %s\n' "$*"; }
now_s() { date +%s.%N; }

# ---------------------------------------------------------------- machine
section "machine"
echo "date       $(date -u +%FT%TZ)"
echo "nproc      $(nproc)"
echo "cpu        $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "kernel     $(uname -sr)"
echo "commit     $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
echo "binaries   $BIN ($(date -u -r "$BIN/ivs-server" +%FT%TZ))"
echo "redis      $(redis-server --version | awk '{print $3}')"
echo "load avg   $(cut -d' ' -f1-3 /proc/loadavg) (at the start)"

# ---------------------------------------------------------------- cluster
section "a private 3-primary Redis Cluster (no replicas, no persistence)"
NODES=()
for i in 0 1 2; do
    p=$(free_cluster_port)
    mkdir -p "$WORK/node$i"
    redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes \
        --cluster-config-file "$WORK/node$i/nodes.conf" --cluster-node-timeout 2000 \
        --save "" --appendonly no --daemonize no --dir "$WORK/node$i" >"$WORK/node$i.log" 2>&1 &
    PIDS+=($!)
    NODES+=("$p")
done
for i in 0 1 2; do
    up=
    for _ in $(seq 200); do redis-cli -p "${NODES[$i]}" ping >/dev/null 2>&1 && { up=1; break; }; sleep 0.05; done
    [ -n "$up" ] || { echo "redis-server on :${NODES[$i]} did not start:"; tail -n 5 "$WORK/node$i.log"; exit 1; }
done
redis-cli --cluster create "${NODES[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >"$WORK/create.log" 2>&1 ||
    { cat "$WORK/create.log"; echo "redis-cli --cluster create failed"; exit 1; }
for p in "${NODES[@]}"; do
    ok=
    for _ in $(seq 200); do
        redis-cli -p "$p" CLUSTER INFO | grep -q '^cluster_state:ok' && { ok=1; break; }
        sleep 0.05
    done
    [ -n "$ok" ] || { echo "node $p never reached cluster_state:ok"; exit 1; }
done
echo "nodes 127.0.0.1:${NODES[0]}, :${NODES[1]}, :${NODES[2]} — cluster_state:ok"
SEEDS=$(printf 'redis://127.0.0.1:%s,' "${NODES[@]}"); SEEDS=${SEEDS%,}

# node_of TAG: index (0-2) of the primary that holds the hash slot of "{TAG}".
node_of() {
    local slot
    slot=$(redis-cli -p "${NODES[0]}" CLUSTER KEYSLOT "{$1}")
    for i in 0 1 2; do
        if redis-cli -p "${NODES[$i]}" CLUSTER NODES | awk -v s="$slot" '
            /myself/ { for (f = 9; f <= NF; f++) { n = split($f, r, "-"); lo = r[1]; hi = (n > 1) ? r[2] : r[1];
                       if ($f !~ /^\[/ && s >= lo && s <= hi) found = 1 } }
            END { exit !found }'; then
            echo "$i"; return
        fi
    done
    echo "slot $slot of {$1} is on no node" >&2; exit 1
}
# The local IVS emulator keeps its account under its own hash tag.
EMU=$(node_of "123456789012:ap-northeast-1")
# Three deployments: the large one (D0) and D1 on the nodes without the
# emulator's slot, so their nodes' memory is theirs alone; D2 on the emulator's node.
declare -a DEP DEPNODE
want=()
for i in 0 1 2; do [ "$i" != "$EMU" ] && want+=("$i"); done
want+=("$EMU")
k=0
for d in 0 1 2; do
    while :; do
        name="cap$k"; k=$((k + 1))
        [ "$(node_of "$name")" = "${want[$d]}" ] && break
    done
    DEP[$d]=$name; DEPNODE[$d]=${want[$d]}
done
for d in 0 1 2; do
    echo "deployment D$d: IVS_REDIS_PREFIX=${DEP[$d]}: → keys {${DEP[$d]}}:* on node ${DEPNODE[$d]} (:${NODES[${DEPNODE[$d]}]})"
done
echo "local IVS emulator (ivs-local:{123456789012:ap-northeast-1}:*) on node $EMU"

# ---------------------------------------------------------------- Redis counters
rinfo() { redis-cli -p "${NODES[$1]}" INFO "$2" | tr -d '\r'; }
used_memory() { rinfo "$1" memory | sed -n 's/^used_memory:\([0-9]*\)$/\1/p'; }
redis_cpu() { rinfo "$1" cpu | awk -F: '/^used_cpu_(user|sys):/ {s += $2} END {printf "%.6f", s}'; }
# Commands executed (script-internal ones included), minus the ones this script sends.
cmd_calls() { # cmd_calls NODE [REGEX of command names]
    rinfo "$1" commandstats | awk -F'[:,=]' -v re="${2:-.}" '
        /^cmdstat_/ { name = substr($1, 9)
            if (name ~ /^(info|cluster|memory|scan|eval|config|ping|command|client)$/) next
            if (name ~ re) s += $3 }
        END { print s + 0 }'
}
# A snapshot of every counter: "t srv_cpu_s cpu0 cpu1 cpu2 all0 all1 all2 sent0 sent1 sent2 zadd0 zadd1 zadd2"
clk_tck=$(getconf CLK_TCK)
server_cpu() { # CPU seconds (user + system) of the server processes
    local s=0
    for p in "${SERVER_PIDS[@]}"; do
        s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    awk -v t="$s" -v h="$clk_tck" 'BEGIN {printf "%.3f", t / h}'
}
snapshot() {
    local out="$(now_s) $(server_cpu)"
    for i in 0 1 2; do out+=" $(redis_cpu "$i")"; done
    for i in 0 1 2; do out+=" $(cmd_calls "$i")"; done
    # Sent by the servers: scripts (EVALSHA), the heartbeat's ZADD / ZSCORE,
    # the health check's EXISTS. ZADD also runs inside join/sweep scripts, so
    # this split is exact only in phases without joins (see docs/capacity.md).
    for i in 0 1 2; do out+=" $(cmd_calls "$i" '^(evalsha|evalsha_ro|zadd|zscore|exists)$')"; done
    for i in 0 1 2; do out+=" $(cmd_calls "$i" '^zadd$')"; done
    for i in 0 1 2; do out+=" $(cmd_calls "$i" '^evalsha$')"; done
    echo "$out"
}
# delta A B: per-field differences "dt dsrv dcpu0 dcpu1 dcpu2 dall0.. dsent0.. dzadd0.. devalsha0.."
delta() { awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " ");
    for (i = 1; i <= n; i++) printf "%s%.6f", (i > 1 ? " " : ""), y[i] - x[i]; print "" }'; }
# per-phase sums: redis_cpu(all nodes), executed (all), sent (all), zadd (all), evalsha (all)
sums() { awk '{ printf "%.6f %.6f %.6f %d %d %d %d\n", $1, $2, $3 + $4 + $5, $6 + $7 + $8, $9 + $10 + $11, $12 + $13 + $14, $15 + $16 + $17 }' <<<"$1"; }

# ---------------------------------------------------------------- servers
section "ivs-server processes: two per deployment, local IVS emulator, REDIS_URL = the three seeds"
SERVER_PIDS=(); SERVER_PORTS=(); SERVER_DEP=()
for d in 0 1 2; do
    for inst in a b; do
        port=$(free_port)
        env -i PATH="$PATH" HOME="$HOME" \
            IVS_BIND="127.0.0.1:$port" IVS_API_KEYS="$KEY:100000000" \
            REDIS_URL="$SEEDS" IVS_REDIS_PREFIX="${DEP[$d]}:" \
            IVS_HEARTBEAT_TIMEOUT_SECS=3600 IVS_MAX_STAGES=250 \
            "$BIN/ivs-server" >"$WORK/server-D$d$inst.log" 2>&1 &
        PIDS+=($!); SERVER_PIDS+=($!); SERVER_PORTS+=("$port"); SERVER_DEP+=("$d")
    done
done
for i in "${!SERVER_PORTS[@]}"; do
    up=
    for _ in $(seq 1200); do # 30 s: six processes start at once on a busy machine
        curl -sf -o /dev/null "http://127.0.0.1:${SERVER_PORTS[$i]}/health" && { up=1; break; }
        kill -0 "${SERVER_PIDS[$i]}" 2>/dev/null || break
        sleep 0.025
    done
    [ -n "$up" ] || { echo "server D${SERVER_DEP[$i]} on :${SERVER_PORTS[$i]} did not become healthy:"; tail -n 5 "$WORK"/server-D"${SERVER_DEP[$i]}"*.log; exit 1; }
done
echo "${#SERVER_PIDS[@]} processes (IVS_MAX_STAGES=250, IVS_HEARTBEAT_TIMEOUT_SECS=3600, default 50 viewers per stage, new stage at 45)"
rc() { redis-cli -c -p "${NODES[0]}" "$@"; }
viewers_in() { rc ZCARD "{${DEP[$1]}}:hb"; }
stages_in() { rc ZCARD "{${DEP[$1]}}:stages"; }
# deployment's keys and their MEMORY USAGE (exact: SAMPLES 0), on its node
dep_key_bytes() {
    local p=${NODES[${DEPNODE[$1]}]} sum=0 k b
    while read -r k; do
        [ -z "$k" ] && continue
        b=$(redis-cli -p "$p" MEMORY USAGE "$k" SAMPLES 0)
        sum=$((sum + b))
    done < <(redis-cli -p "$p" --scan --pattern "{${DEP[$1]}}:*")
    echo "$sum"
}
dep_key_list() {
    local p=${NODES[${DEPNODE[$1]}]} k
    redis-cli -p "$p" --scan --pattern "{${DEP[$1]}}:*" | sort | while read -r k; do
        printf '  %-24s %-6s %-9s %8s elements %10s bytes\n' "$k" "$(redis-cli -p "$p" TYPE "$k")" "$(redis-cli -p "$p" OBJECT ENCODING "$k")" \
            "$(case $(redis-cli -p "$p" TYPE "$k") in zset) redis-cli -p "$p" ZCARD "$k";; hash) redis-cli -p "$p" HLEN "$k";; list) redis-cli -p "$p" LLEN "$k";; *) echo 1;; esac)" \
            "$(redis-cli -p "$p" MEMORY USAGE "$k" SAMPLES 0)"
    done
}
# join N viewers into deployment D through its instance I (index), topped up until counted
join_into() { # join_into INDEX N RATE LABEL
    local i=$1 n=$2 rate=$3 label=$4 d=${SERVER_DEP[$1]}
    "$BIN/paced_load" --url "http://127.0.0.1:${SERVER_PORTS[$i]}/api/token/viewer" --rate "$rate" \
        --duration "$(awk -v n="$n" -v r="$rate" 'BEGIN {print n / r}')" --warmup 0 \
        --header "x-api-key: $KEY" --join-prefix "$label" >"$WORK/join-$label.txt"
}
top_up() { # top_up DEPLOYMENT TARGET
    local d=$1 target=$2 n k=0 i
    for i in "${!SERVER_DEP[@]}"; do [ "${SERVER_DEP[$i]}" = "$d" ] && break; done
    n=$(viewers_in "$d")
    while [ "$n" -lt "$target" ] && [ "$k" -lt 5 ]; do
        k=$((k + 1))
        join_into "$i" $((target - n)) 200 "topup$d-$k"
        n=$(viewers_in "$d")
    done
    [ "$n" -ge "$target" ] || { echo "D$d: only $n of $target viewers after top-ups"; exit 1; }
}

# ---------------------------------------------------------------- idle background
section "background cost at rest: ${IDLE_SECS}s, nobody connected"
sleep 2
s0=$(snapshot); sleep "$IDLE_SECS"; s1=$(snapshot)
read -r I_T I_SRV I_RCPU I_ALL I_SENT _ _ <<<"$(sums "$(delta "$s0" "$s1")")"
NSRV=${#SERVER_PIDS[@]}
echo "per server process: $(awk -v c="$I_SRV" -v t="$I_T" -v n="$NSRV" 'BEGIN {printf "%.2f ms CPU/s", 1000 * c / t / n}'), $(awk -v c="$I_ALL" -v t="$I_T" -v n="$NSRV" 'BEGIN {printf "%.2f", c / t / n}') Redis commands/s executed ($(awk -v c="$I_SENT" -v t="$I_T" -v n="$NSRV" 'BEGIN {printf "%.2f", c / t / n}') sent)"
echo "per Redis node (its own cron and cluster bus, mostly): $(awk -v c="$I_RCPU" -v t="$I_T" 'BEGIN {printf "%.2f ms CPU/s", 1000 * c / t / 3}')"
idle_srv_rate=$(awk -v c="$I_SRV" -v t="$I_T" 'BEGIN {printf "%.6f", c / t}')
idle_rcpu_rate=$(awk -v c="$I_RCPU" -v t="$I_T" 'BEGIN {printf "%.6f", c / t}')
idle_all_rate=$(awk -v c="$I_ALL" -v t="$I_T" 'BEGIN {printf "%.6f", c / t}')

# ---------------------------------------------------------------- memory at 1,000 viewers
section "Redis memory per viewer: D0 at 0 → 1,000 viewers (node ${DEPNODE[0]}: used_memory; keys: MEMORY USAGE)"
m0=$(used_memory "${DEPNODE[0]}"); k0=$(dep_key_bytes 0)
join_into 0 1000 500 m1k >/dev/null
top_up 0 1000
sleep 1
m1=$(used_memory "${DEPNODE[0]}"); k1=$(dep_key_bytes 0)
v1=$(viewers_in 0); st1=$(stages_in 0)
MEM1K=$(awk -v a="$m0" -v b="$m1" -v n="$v1" 'BEGIN {printf "%.0f", (b - a) / n}')
KEY1K=$(awk -v a="$k0" -v b="$k1" -v n="$v1" 'BEGIN {printf "%.0f", (b - a) / n}')
echo "$v1 viewers on $st1 stages: used_memory +$((m1 - m0)) bytes = $MEM1K bytes/viewer; deployment keys +$((k1 - k0)) bytes = $KEY1K bytes/viewer"

# ---------------------------------------------------------------- joins, measured
TOTAL_NEW=$((BIG - 1000 + 2 * SMALL))
section "joins: $TOTAL_NEW viewers through the API, all six processes at once (D0 → $BIG, D1 and D2 → $SMALL each), ~${JOIN_SECS}s"
vb=$(( $(viewers_in 0) + $(viewers_in 1) + $(viewers_in 2) ))
s0=$(snapshot)
jp=()
for i in "${!SERVER_PORTS[@]}"; do
    d=${SERVER_DEP[$i]}
    if [ "$d" = 0 ]; then n=$(((BIG - 1000) / 2)); else n=$((SMALL / 2)); fi
    rate=$(awk -v n="$n" -v s="$JOIN_SECS" 'BEGIN {printf "%.1f", n / s}')
    join_into "$i" "$n" "$rate" "j$i" &
    jp+=($!)
done
for p in "${jp[@]}"; do wait "$p"; done
s1=$(snapshot)
va=$(( $(viewers_in 0) + $(viewers_in 1) + $(viewers_in 2) ))
JOINS=$((va - vb))
read -r J_T J_SRV J_RCPU J_ALL J_SENT _ J_EVALSHA <<<"$(sums "$(delta "$s0" "$s1")")"
jfail=0; for i in "${!SERVER_PORTS[@]}"; do jfail=$((jfail + $(field failed <"$WORK/join-j$i.txt"))); done
jp99=$(for i in "${!SERVER_PORTS[@]}"; do field p99 <"$WORK/join-j$i.txt"; done | sort -g | tail -1)
# Subtract the background measured at rest.
JOIN_SRV_US=$(awk -v c="$J_SRV" -v t="$J_T" -v i="$idle_srv_rate" -v n="$JOINS" 'BEGIN {printf "%.1f", 1e6 * (c - i * t) / n}')
JOIN_REDIS_US=$(awk -v c="$J_RCPU" -v t="$J_T" -v i="$idle_rcpu_rate" -v n="$JOINS" 'BEGIN {printf "%.1f", 1e6 * (c - i * t) / n}')
JOIN_CMDS=$(awk -v c="$J_ALL" -v t="$J_T" -v i="$idle_all_rate" -v n="$JOINS" 'BEGIN {printf "%.2f", (c - i * t) / n}')
JOIN_EVALSHA=$(awk -v c="$J_EVALSHA" -v n="$JOINS" 'BEGIN {printf "%.3f", c / n}')
echo "$JOINS viewers counted in $(printf '%.1f' "$J_T") s ($(awk -v n="$JOINS" -v t="$J_T" 'BEGIN {printf "%.0f", n / t}') joins/s), $jfail failed requests, worst per-process p99 $jp99 ms"
echo "per join: server CPU $JOIN_SRV_US µs, Redis CPU $JOIN_REDIS_US µs (all nodes), $JOIN_CMDS commands executed, $JOIN_EVALSHA EVALSHA sent"
printf 'per node (Redis CPU µs / commands executed per join):'
read -r _ _ dc0 dc1 dc2 da0 da1 da2 _ <<<"$(delta "$s0" "$s1")"
for i in 0 1 2; do
    c=$(eval echo "\$dc$i"); a=$(eval echo "\$da$i")
    tagnote=""; [ "$i" = "$EMU" ] && tagnote=" emulator"
    for d in 0 1 2; do [ "${DEPNODE[$d]}" = "$i" ] && tagnote+=" D$d"; done
    printf '  node %s (%s): %s / %s' "$i" "${tagnote# }" "$(awk -v c="$c" -v n="$JOINS" 'BEGIN {printf "%.1f", 1e6 * c / n}')" "$(awk -v c="$a" -v n="$JOINS" 'BEGIN {printf "%.2f", c / n}')"
done
echo
top_up 0 "$BIG"; top_up 1 "$SMALL"; top_up 2 "$SMALL"

# ---------------------------------------------------------------- memory at the large size
section "Redis memory per viewer at $BIG (D0) and $SMALL (D1, D2) viewers"
sleep 1
m2=$(used_memory "${DEPNODE[0]}"); k2=$(dep_key_bytes 0)
v2=$(viewers_in 0); st2=$(stages_in 0)
MEMBIG=$(awk -v a="$m0" -v b="$m2" -v n="$v2" 'BEGIN {printf "%.0f", (b - a) / n}')
KEYBIG=$(awk -v a="$k0" -v b="$k2" -v n="$v2" 'BEGIN {printf "%.0f", (b - a) / n}')
MEMSTEP=$(awk -v a="$m1" -v b="$m2" -v n1="$v1" -v n2="$v2" 'BEGIN {printf "%.0f", (b - a) / (n2 - n1)}')
echo "D0: $v2 viewers on $st2 stages: used_memory +$((m2 - m0)) bytes = $MEMBIG bytes/viewer (1,000 → $v2: $MEMSTEP bytes per added viewer); keys +$((k2 - k0)) bytes = $KEYBIG bytes/viewer"
for d in 1 2; do
    echo "D$d: $(viewers_in "$d") viewers on $(stages_in "$d") stages: keys $(dep_key_bytes "$d") bytes = $(awk -v b="$(dep_key_bytes "$d")" -v n="$(viewers_in "$d")" 'BEGIN {printf "%.0f", b / n}') bytes/viewer (node ${DEPNODE[$d]}, used_memory $(used_memory "${DEPNODE[$d]}"))"
done
echo "D0's keys:"
dep_key_list 0

# ---------------------------------------------------------------- heartbeats, measured
for d in 0 1 2; do
    p=${NODES[${DEPNODE[$d]}]}
    # Members of {p}hb are "<len(arn)>:<arn><userId>" (docs/redis.md).
    redis-cli -p "$p" --raw EVAL "local out={} for _,m in ipairs(redis.call('ZRANGE',KEYS[1],0,-1)) do local n,rest=string.match(m,'^(%d+):(.*)$') n=tonumber(n) out[#out+1]=string.sub(rest,n+1)..'\t'..string.sub(rest,1,n) end return out" 1 "{${DEP[$d]}}:hb" >"$WORK/pairs-D$d.tsv"
done
# One run per rate: the cost of a request falls as the rate rises (fixed
# per-wake-up costs are shared by more requests), so the table uses the
# highest rate, and the lower one shows how much the figure depends on it.
for HB_RATE in $HB_RATES; do
section "heartbeats: $HB_RATE/s to each of the ${NSRV} processes ($((HB_RATE * NSRV))/s in all), ${HB_SECS}s after 2 s warm-up"
s0=$(snapshot)
hp=()
for i in "${!SERVER_PORTS[@]}"; do
    "$BIN/paced_load" --url "http://127.0.0.1:${SERVER_PORTS[$i]}/api/viewer/heartbeat" \
        --rate "$HB_RATE" --duration "$HB_SECS" --warmup 2 --header "x-api-key: $KEY" \
        --pairs "$WORK/pairs-D${SERVER_DEP[$i]}.tsv" >"$WORK/hb-$HB_RATE-$i.txt" &
    hp+=($!)
done
for p in "${hp[@]}"; do wait "$p"; done
s1=$(snapshot)
read -r H_T H_SRV H_RCPU H_ALL H_SENT H_ZADD _ <<<"$(sums "$(delta "$s0" "$s1")")"
HBS=$H_ZADD # every heartbeat is one ZADD; nothing else sends one in this phase
hfail=0; for i in "${!SERVER_PORTS[@]}"; do hfail=$((hfail + $(field failed <"$WORK/hb-$HB_RATE-$i.txt"))); done
hp50=$(for i in "${!SERVER_PORTS[@]}"; do field p50 <"$WORK/hb-$HB_RATE-$i.txt"; done | sort -g | tail -1)
hp99=$(for i in "${!SERVER_PORTS[@]}"; do field p99 <"$WORK/hb-$HB_RATE-$i.txt"; done | sort -g | tail -1)
HB_SRV_US=$(awk -v c="$H_SRV" -v t="$H_T" -v i="$idle_srv_rate" -v n="$HBS" 'BEGIN {printf "%.1f", 1e6 * (c - i * t) / n}')
HB_REDIS_US=$(awk -v c="$H_RCPU" -v t="$H_T" -v i="$idle_rcpu_rate" -v n="$HBS" 'BEGIN {printf "%.2f", 1e6 * (c - i * t) / n}')
HB_CMDS=$(awk -v c="$H_ALL" -v t="$H_T" -v i="$idle_all_rate" -v n="$HBS" 'BEGIN {printf "%.3f", (c - i * t) / n}')
HB_SENT=$(awk -v c="$H_SENT" -v n="$HBS" 'BEGIN {printf "%.3f", c / n}')
echo "$HBS heartbeats (ZADD calls) in $(printf '%.1f' "$H_T") s ($(awk -v n="$HBS" -v t="$H_T" 'BEGIN {printf "%.0f", n / t}')/s), $hfail failed, worst per-process p50 $hp50 ms, p99 $hp99 ms"
echo "per heartbeat: server CPU $HB_SRV_US µs, Redis CPU $HB_REDIS_US µs, $HB_SENT commands sent, $HB_CMDS executed"
printf 'per node, background included (Redis CPU µs per heartbeat of that node):'
read -r _ _ dc0 dc1 dc2 _ _ _ _ _ _ dz0 dz1 dz2 _ <<<"$(delta "$s0" "$s1")"
for i in 0 1 2; do
    c=$(eval echo "\$dc$i"); z=$(eval echo "\$dz$i")
    printf '  node %s: %s (%.0f heartbeats)' "$i" "$(awk -v c="$c" -v z="$z" 'BEGIN {if (z > 0) printf "%.2f", 1e6 * c / z; else print "-"}')" "$z"
done
echo
HB_SUMMARY+="$(printf '%-58s %s' "heartbeat at $((HB_RATE * NSRV))/s: server / Redis CPU" "$HB_SRV_US / $HB_REDIS_US µs")"$'\n'
done
echo "load avg   $(cut -d' ' -f1-3 /proc/loadavg) (at the end of the load runs)"

# ---------------------------------------------------------------- leaves (watch-time retention)
section "memory kept per viewer that left (watch time, kept IVS_DURATION_RETENTION_SECS = 1 day)"
LEFT=$((SMALL / 4))
watch_bytes() { # MEMORY USAGE of D1's watch-time keys
    local p=${NODES[${DEPNODE[1]}]} w a
    w=$(redis-cli -p "$p" MEMORY USAGE "{${DEP[1]}}:watch" SAMPLES 0); a=$(redis-cli -p "$p" MEMORY USAGE "{${DEP[1]}}:watch:at" SAMPLES 0)
    echo $(( ${w:-0} + ${a:-0} ))
}
k3=$(dep_key_bytes 1); w3=$(watch_bytes); h3=$(rc HLEN "{${DEP[1]}}:watch")
head -n "$LEFT" "$WORK/pairs-D1.tsv" | awk -F'\t' -v url="http://127.0.0.1:${SERVER_PORTS[2]}/api/viewer/leave" -v key="$KEY" '
    { if (NR > 1) print "next"
      printf "url = \"%s\"\nheader = \"x-api-key: %s\"\nheader = \"content-type: application/json\"\ndata = \"{\\\"userId\\\":\\\"%s\\\",\\\"stageArn\\\":\\\"%s\\\"}\"\noutput = \"/dev/null\"\nsilent\n", url, key, $1, $2 }' >"$WORK/leave.curl"
curl -K "$WORK/leave.curl"
sleep 6 # a maintenance round hands the departures to the (emulated) IVS and empties {p}departed
k4=$(dep_key_bytes 1); w4=$(watch_bytes); h4=$(rc HLEN "{${DEP[1]}}:watch")
LEFT=$((h4 - h3))
[ "$LEFT" -gt 0 ] || { echo "no watch time was recorded by the leaves"; exit 1; }
WATCH_BYTES=$(awk -v a="$w3" -v b="$w4" -v n="$LEFT" 'BEGIN {printf "%.0f", (b - a) / n}')
echo "$LEFT viewers of D1 left: {p}watch + {p}watch:at $w3 → $w4 bytes = $WATCH_BYTES bytes per viewer that left; all of D1's keys $k3 → $k4 bytes"
echo "D1's keys after the leaves:"
dep_key_list 1

# ---------------------------------------------------------------- the table
section "measured per-unit costs (background at rest subtracted)"
printf '%-58s %s\n' \
    "server CPU per heartbeat (the last, fastest run)" "$HB_SRV_US µs" \
    "Redis CPU per heartbeat (all nodes)" "$HB_REDIS_US µs" \
    "Redis commands per heartbeat (sent / executed)" "$HB_SENT / $HB_CMDS" \
    "server CPU per join (ES384 signing included)" "$JOIN_SRV_US µs" \
    "Redis CPU per join (all nodes; emulator's GetStage included)" "$JOIN_REDIS_US µs" \
    "Redis commands per join (EVALSHA sent / executed)" "$JOIN_EVALSHA / $JOIN_CMDS" \
    "Redis memory per viewer at 1,000 (used_memory / keys)" "$MEM1K / $KEY1K bytes" \
    "Redis memory per viewer at $BIG (used_memory / keys)" "$MEMBIG / $KEYBIG bytes" \
    "watch-time bytes per viewer that left (kept 1 day)" "$WATCH_BYTES bytes" \
    "background per process at rest: server CPU" "$(awk -v c="$I_SRV" -v t="$I_T" -v n="$NSRV" 'BEGIN {printf "%.2f ms per s", 1000 * c / t / n}')" \
    "background per Redis node at rest: CPU" "$(awk -v r="$I_RCPU" -v t="$I_T" 'BEGIN {printf "%.2f ms per s", 1000 * r / t / 3}')" \
    "background per process at rest: Redis commands executed" "$(awk -v c="$I_ALL" -v t="$I_T" -v n="$NSRV" 'BEGIN {printf "%.1f/s", c / t / n}')"

printf '%s' "$HB_SUMMARY"
# The rules (docs/capacity.md, "Rules"), applied to the measurements above.
awk -v hb_srv="$HB_SRV_US" -v hb_redis="$HB_REDIS_US" -v hb_cmds="$HB_CMDS" -v hb_sent="$HB_SENT" \
    -v j_srv="$JOIN_SRV_US" -v j_redis="$JOIN_REDIS_US" -v j_cmds="$JOIN_CMDS" -v j_sent="$JOIN_EVALSHA" \
    -v mem="$MEMBIG" -v left="$WATCH_BYTES" \
    -v idle_srv="$(awk -v c="$I_SRV" -v t="$I_T" -v n="$NSRV" 'BEGIN {print c / t / n}')" \
    -v idle_cmds="$(awk -v c="$I_ALL" -v t="$I_T" -v n="$NSRV" 'BEGIN {print c / t / n}')" '
function ceil(x) { return (x == int(x)) ? x : int(x) + 1 }
function max(a, b) { return a > b ? a : b }
function min(a, b) { return a < b ? a : b }
function fmt(x) { # 1234567 → 1,234,567
    x = sprintf("%.0f", x); s = ""
    while (length(x) > 3) { s = "," substr(x, length(x) - 2) s; x = substr(x, 1, length(x) - 3) }
    return x s }
function f1(x) { return (x < 1) ? sprintf("%.3f", x) : (x < 10) ? sprintf("%.2f", x) : (x < 100 ? sprintf("%.1f", x) : fmt(x)) }
function flag(v, q) { return v > q ? " (> " q ")" : "" }
# plan N VPS THR MAXST: fills R[] for N viewers, VPS viewers per stage,
# scale-up at THR, MAXST stages per deployment
function plan(N, vps, thr, maxst) {
    R["per_dep"] = vps * maxst
    R["deps"] = ceil(N / R["per_dep"])
    # least-loaded placement opens a stage when every one is at the threshold
    nd = N / R["deps"]
    R["stages"] = R["deps"] * min(maxst, max(1, ceil(nd / thr)))
    R["hb"] = N / 30
    R["join_ramp"] = N / 300
    R["join_steady"] = N / 3300 + 0.10 * N / 3600
    R["leave_steady"] = 0.10 * N / 3600
    inst_dep = 2
    R["redis_cores"] = R["hb"] * hb_redis / 1e6 + R["join_ramp"] * j_redis / 1e6
    srv = R["hb"] * hb_srv / 1e6 + R["join_ramp"] * j_srv / 1e6
    # one process serves one deployment; two per deployment for availability,
    # more when a deployment needs more than 0.5 core of work per process
    per_dep_srv = srv / R["deps"]
    R["inst"] = R["deps"] * max(inst_dep, ceil(per_dep_srv / 0.5))
    R["srv_cores"] = srv + R["inst"] * idle_srv
    R["cmds"] = R["hb"] * hb_cmds + R["join_ramp"] * j_cmds + R["inst"] * idle_cmds
    R["sent"] = R["hb"] * hb_sent + R["join_ramp"] * j_sent
    R["mem"] = N * mem + R["leave_steady"] * 86400 * left
    # a deployment lives in one slot, so one shard; a shard runs one thread:
    # plan it at half a core; more shards than deployments stay idle
    R["shards"] = min(R["deps"], max(1, ceil(R["redis_cores"] / 0.5)))
    R["dep_redis"] = R["redis_cores"] / R["deps"]
    # IVS control-plane calls per second, from the code (docs/capacity.md)
    R["cpt"] = R["join_ramp"]
    R["create"] = max(0, R["stages"] - R["deps"]) / 300 + 0
    R["liststages"] = R["inst"] * 0.1 + R["deps"] * ceil(R["stages"] / 100) / 60
    R["getstage"] = R["inst"] * 0.2
    # self-signed tokens: every process looks up each stage of its
    # deployment once (endpoints, cached), i.e. during the ramp
    R["getstage_ss"] = R["inst"] * 0.2 + R["inst"] * (R["stages"] / R["deps"]) / 300
    R["disc"] = R["leave_steady"]
    R["subs"] = N
    # the publisher reaches master + 5 replicas per deployment
    R["covered"] = R["deps"] * min(R["stages"] / R["deps"], 6)
}
function show(title, vps, thr, maxst) {
    n[1] = 10000; n[2] = 100000; n[3] = 1000000
    for (c = 1; c <= 3; c++) { plan(n[c], vps, thr, maxst); for (k in R) T[c, k] = R[k] }
    printf "\n%s\n", title
    printf "%-44s %16s %16s %16s\n", "concurrent viewers", "10,000", "100,000", "1,000,000"
    row("heartbeats/s (every viewer every 30 s)", "hb", 0)
    row("joins/s, ramp: everyone within 5 min", "join_ramp", 0)
    row("joins/s, steady: refresh 55 min + 10 %/h churn", "join_steady", 1)
    row("Redis commands/s executed, ramp (sent)", "cmds", 0, "sent")
    row("Redis CPU, ramp (cores, all shards)", "redis_cores", 1)
    row("Redis CPU of one deployment (cores)", "dep_redis", 1)
    row("Redis memory (MB; + 1 day of watch times)", "mem", 2)
    row("deployments (prefixes) needed", "deps", 0)
    row("cluster shards (0.5 core each, <= deps)", "shards", 0)
    row("server processes (2+ per deployment)", "inst", 0)
    row("server CPU, ramp (cores, all processes)", "srv_cores", 1)
    row("IVS stages (quota 1,000 per region)", "stages", 0, "", 1000)
    row("stages the publisher reaches (master+5)", "covered", 0)
    row("subscriptions (quota 20,000 per region)", "subs", 0, "", 20000)
    row("CreateParticipantToken/s if IVS mints (50)", "cpt", 1, "", 50)
    row("CreateStage/s during the ramp (5)", "create", 1, "", 5)
    row("ListStages/s: probes + reconcile (5)", "liststages", 1, "", 5)
    row("ListParticipants/s: liveness (5)", "getstage", 1, "", 5)
    row("GetStage/s: liveness + endpoints, ramp (5)", "getstage_ss", 1, "", 5)
    row("DisconnectParticipant/s, steady (5)", "disc", 1, "", 5)
}
function row(label, k, kind, extra, quota,   c, v, s) {
    printf "%-44s", label
    for (c = 1; c <= 3; c++) {
        v = T[c, k]
        if (kind == 2) s = sprintf("%.1f", v / 1e6)
        else if (kind == 1) s = f1(v)
        else s = fmt(v)
        if (extra != "") s = s " (" fmt(T[c, extra]) ")"
        if (quota != "" && v > quota) s = s " !"
        printf " %16s", s
    }
    printf "\n"
}
BEGIN {
    show("Defaults: 50 viewers per stage, new stage at 45, 20 stages per deployment (1,000 viewers)", 50, 45, 20)
    show("Large stages: IVS_VIEWERS_PER_STAGE=10000 IVS_SCALE_UP_THRESHOLD=9000 IVS_MAX_STAGES=6 (60,000 viewers)", 10000, 9000, 6)
    print ""
    print "\"!\" = above the default AWS quota or rate (docs/capacity.md cites each one)."
    # One deployment is one slot, so one shard thread: its ceiling.
    printf "one deployment on one shard thread at 0.5 core holds at most %s viewers (heartbeats + a 5-minute ramp; Redis CPU only)\n", \
        fmt(0.5e6 / (hb_redis / 30 + j_redis / 300))
    printf "one server process at 0.5 core serves at most %s viewers (heartbeats + a 5-minute ramp)\n", \
        fmt(0.5e6 / (hb_srv / 30 + j_srv / 300))
}'
