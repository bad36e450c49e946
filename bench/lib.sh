# shellcheck shell=sh
# Helpers shared by bench/run.sh and bench/scaleout.sh (sourced, POSIX sh). The caller sets
# BENCH_NAME (log prefix), RES (the results file), T (its temp dir) and may set BENCH_DIED_HINT
# (appended when a server dies while being waited for).

log() { printf '[%s %s] %s\n' "$BENCH_NAME" "$(date +%H:%M:%S)" "$*" >&2; }
rec() { printf '%s=%s\n' "$1" "$2" >>"$RES"; }
# load average before a phase: other work on the machine skews everything on 2 cores
rec_load() { rec "load_$1" "$(cut -d' ' -f1-3 /proc/loadavg)"; }
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_http() { # URL PID: until 200 or the process dies (10 s max)
    i=0
    while [ $i -lt 1000 ]; do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || {
            echo "$BENCH_NAME: server died, see logs in $T${BENCH_DIED_HINT:+ $BENCH_DIED_HINT}" >&2
            return 1
        }
        sleep 0.01; i=$((i + 1))
    done
    echo "$BENCH_NAME: $1 did not answer" >&2; return 1
}
