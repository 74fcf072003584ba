#!/usr/bin/env bash
# A/B of the heartbeat: two release builds of ivs-server on one private Redis,
# each with its own prefix and viewers, wrk runs interleaved with bare warp
# (bare, old, new; three times) so that the machine's drift hits all three,
# then paced 2,000/s runs. Prints req/s and, per heartbeat, the CPU time of
# redis-server and of the server process (/proc, user + system).
#
#   OLD=/path/to/old/ivs-server NEW=target/release/ivs-server scripts/bench-ab.sh
#
# The load tools (bare_warp, paced_load: cargo build --release -p ivs-loadgen)
# come from TOOLS (default target/release).
# The old build may use an earlier key layout: the pairs of both layouts are read.
set -uo pipefail
cd "$(dirname "$0")/.."
NEW=${NEW:-${CARGO_TARGET_DIR:-target}/release/ivs-server}
OLD=${OLD:?set OLD to the other build}
TOOLS=${TOOLS:-${CARGO_TARGET_DIR:-target}/release}
LUA=$PWD/scripts/bench
W=$(mktemp -d /tmp/ivs-ab.XXXXXX)
KEY=bench-key-000
RP=$(shuf -i 10000-30000 -n 1) # below the ephemeral ports (lib.sh)
redis-server --port $RP --save "" --appendonly no --daemonize no --dir $W > $W/redis.log 2>&1 &
RPID=$!
sleep 0.5
R="redis-cli -p $RP"
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' /proc/$1/stat; }
start() { # name bin port
  env -i PATH=$PATH IVS_BIND=127.0.0.1:$3 IVS_API_KEYS=$KEY:100000000 REDIS_URL=redis://127.0.0.1:$RP/ \
    IVS_REDIS_PREFIX=$1: IVS_HEARTBEAT_TIMEOUT_SECS=3600 IVS_MAX_STAGES=250 IVS_STATS_INTERVAL_MS=1000 $2 > $W/$1.log 2>&1 &
  echo $!
}
P0=$(shuf -i 10000-30000 -n 1)
OPID=$(start old $OLD $((P0 + 1))); NPID=$(start new $NEW $((P0 + 2)))
BARE=$((P0 + 3)); $TOOLS/bare_warp 127.0.0.1:$BARE 2>/dev/null & BPID=$!
sleep 1.5
for p in $((P0 + 1)) $((P0 + 2)); do
  $TOOLS/paced_load --url http://127.0.0.1:$p/api/token/viewer --rate 2000 --duration 5 --warmup 0 --header "x-api-key: $KEY" --join-prefix pre$p | tail -1
done
$R --raw EVAL "local out={} for _,a in ipairs(redis.call('ZRANGE','old:stages',0,-1)) do for _,u in ipairs(redis.call('ZRANGE','old:hb:'..a,0,-1)) do out[#out+1]=u..'\t'..a end end return out" 0 > $W/old.tsv
$R --raw EVAL "local out={} for _,m in ipairs(redis.call('ZRANGE',KEYS[1],0,-1)) do local n,rest=string.match(m,'^(%d+):(.*)$') n=tonumber(n) out[#out+1]=string.sub(rest,n+1)..'\t'..string.sub(rest,1,n) end return out" 1 "{new}:hb" > $W/new.tsv
wc -l $W/old.tsv $W/new.tsv
run() { # label port pid pairs
  local r0 s0 r1 s1
  r0=$(ticks $RPID); s0=$( [ -n "$3" ] && ticks $3 || echo 0)
  BENCH_KEY=$KEY BENCH_PAIRS=$4 wrk -t2 -c50 -d10s --latency -s $LUA/heartbeat.lua http://127.0.0.1:$2 > $W/run.txt 2>&1
  r1=$(ticks $RPID); s1=$( [ -n "$3" ] && ticks $3 || echo 0)
  local line reqs
  line=$(grep '^RESULT' $W/run.txt)
  reqs=$(echo "$line" | tr ' ' '\n' | sed -n 's/^requests=//p')
  echo "$1 $line redis_cpu_us=$(awk -v hz=$hz -v t=$((r1-r0)) -v r=$reqs 'BEGIN{printf "%.2f", t*1000000/hz/r}') server_cpu_us=$(awk -v hz=$hz -v t=$((s1-s0)) -v r=$reqs 'BEGIN{printf "%.2f", t*1000000/hz/r}')"
}
for i in 1 2 3; do
  run bare $BARE $BPID $W/new.tsv
  run old $((P0 + 1)) $OPID $W/old.tsv
  run new $((P0 + 2)) $NPID $W/new.tsv
done
for i in 1 2; do
  for x in "old $((P0 + 1)) $W/old.tsv" "new $((P0 + 2)) $W/new.tsv"; do
    set -- $x
    echo "paced $1 $($TOOLS/paced_load --url http://127.0.0.1:$2/api/viewer/heartbeat --rate 2000 --duration 10 --header "x-api-key: $KEY" --pairs $3 | tail -1)"
  done
done
$R INFO commandstats | grep -E "zadd|evalsha"
kill $OPID $NPID $BPID $RPID 2>/dev/null
wait 2>/dev/null
rm -rf "$W"
