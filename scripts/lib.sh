# Shell functions shared by the benchmark scripts (sourced, not run).

# The ports the kernel hands out to outgoing connections
# (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default). A server
# port picked among them can be taken between the pick and the bind by a
# load generator's connection, or still be held by one in TIME-WAIT, which
# makes the bind fail with "Address already in use".
ephemeral_ports() { cat /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo "32768 60999"; }
# A TCP port on 127.0.0.1 below the ephemeral range with no socket on it at
# all (listening, connected or in TIME-WAIT).
free_port() {
    local p low
    low=$(ephemeral_ports | awk '{print $1}')
    [ "$low" -gt 12000 ] 2>/dev/null || low=32768
    while :; do
        p=$(shuf -i 10000-$((low - 1)) -n 1)
        [ -z "$(ss -Htan "sport = :$p")" ] && { echo "$p"; return; }
    done
}

# bench_setup NAME: a temporary directory $WORK and a list $PIDS of the
# processes a script starts; on exit the processes are stopped and the
# directory removed.
bench_setup() {
    WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    PIDS=()
    trap bench_cleanup EXIT
}
bench_cleanup() {
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}

# The median of the numbers on stdin ("nan" when there are none).
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# field NAME: the value of NAME in the last "RESULT a=1 b=2" line on stdin.
field() { grep '^RESULT' | tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# wait_health PORT: until the server on PORT answers /health (10 s at most).
wait_health() {
    for _ in $(seq 400); do
        curl -sf -o /dev/null "http://127.0.0.1:$1/health" && return 0
        sleep 0.025
    done
    echo "server on port $1 did not become healthy"; exit 1
}

# The server of the benchmark scripts (they set BIN, KEY, REDIS_PORT, WORK, PIDS).
SERVER_PID=
SERVER_PORT=
# start_server PREFIX [ENV=VALUE...]: a release ivs-server on Redis, default log
# filter; SERVER_BIN, when set, names another build to start.
start_server() {
    local prefix=$1; shift
    SERVER_PORT=$(free_port)
    env -i PATH="$PATH" HOME="$HOME" \
        IVS_BIND="127.0.0.1:$SERVER_PORT" IVS_API_KEYS="$KEY:100000000" \
        REDIS_URL="redis://127.0.0.1:$REDIS_PORT/" IVS_REDIS_PREFIX="$prefix" \
        IVS_HEARTBEAT_TIMEOUT_SECS=3600 "$@" \
        "${SERVER_BIN:-$BIN/ivs-server}" >"$WORK/server-$prefix.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=($SERVER_PID)
    wait_health "$SERVER_PORT"
}
stop_server() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}
