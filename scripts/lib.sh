# Shell functions shared by the benchmark scripts (sourced, not run).

# A TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    local p
    while :; do
        p=$(shuf -i 20000-45000 -n 1)
        ss -ltn "sport = :$p" | grep -q LISTEN || { echo "$p"; return; }
    done
}
