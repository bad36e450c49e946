#!/bin/sh
# Attack suite (issue 6, item 6): sqlmap, slowhttptest, JWT forgeries, oversize/malformed
# requests and header/log injection against a real gatehouse on loopback, each stage under a
# hard timeout, the whole run within GH_ATTACK_BUDGET seconds (default 480).
#
# Usage: run.sh GATEHOUSE_BINARY OUTPUT_DIR
# Writes OUTPUT_DIR/report.md (per tool: endpoints, the parameters it actually tested, verdicts),
# the server log, sqlmap and slowhttptest output. Exit 0 only when every stage passed, the
# injectable controls were flagged, the log is clean and gatehouse exited 0 on SIGTERM.
# Needs (Debian 12): sqlmap slowhttptest faketime python3 (standard library only), coreutils.
# Knobs: GH_ATTACK_BUDGET, GH_ATTACK_SQLMAP_JOBS, GH_ATTACK_SQLMAP_ONLY (regex of targets),
# GH_ATTACK_SLOW_CONNECTIONS, GH_ATTACK_SLOW_SECONDS, GH_ATTACK_STAGES (e.g. "jwt headers"),
# GH_ATTACK_KEEP_TMP, GH_ATTACK_KEEP_TRAFFIC.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 GATEHOUSE_BINARY OUTPUT_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
mkdir -p "$2"
OUT=$(cd "$2" && pwd)
BUDGET=${GH_ATTACK_BUDGET:-480}
STAGES=${GH_ATTACK_STAGES:-"jwt malformed headers sqlmap slow"}
GH_NOFILE=${GH_ATTACK_GATEHOUSE_NOFILE:-1024}

fail() { echo "attack: $*" >&2; exit 1; }
[ -x "$BIN" ] || fail "no executable at $BIN"
for tool in python3 sqlmap slowhttptest timeout; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install sqlmap slowhttptest faketime python3)"
done
# libfaketime preloaded directly (the faketime wrapper forks and would not pass on SIGTERM).
FAKETIME_LIB=""
for f in /usr/lib/*/faketime/libfaketimeMT.so.1; do [ -f "$f" ] && FAKETIME_LIB=$f; done
[ -n "$FAKETIME_LIB" ] || fail "libfaketime is not installed (apt-get install faketime)"

START=$(date +%s)
DEADLINE=$((START + BUDGET))
T=$(mktemp -d "${TMPDIR:-/tmp}/gh-attack.XXXXXX")
GH_PID=""
CTL_PIDS=""
cleanup() {
    for p in $GH_PID $CTL_PIDS; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    [ -n "${GH_ATTACK_KEEP_TMP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$OUT/sqlmap" "$OUT/slow"
rm -f "$OUT"/*.md "$OUT"/*.json "$OUT"/*.log "$OUT/timing.tsv"
: >"$OUT/timing.tsv"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_http() { # URL PID: wait until URL answers 200 (20 s) while PID lives
    python3 - "$1" "$2" <<'EOF'
import os, sys, time, urllib.request
url, pid = sys.argv[1], int(sys.argv[2])
for _ in range(200):
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("exited at start-up")
    try:
        if urllib.request.urlopen(url, timeout=1).status == 200:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit("no answer within 20 s")
EOF
}

PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
PASSWORD="attack suite passphrase $(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
INTROSPECT_CRED="rs:attack-suite-introspection-secret-$(od -An -N6 -tx8 /dev/urandom | tr -d ' ')"

# The server's environment: none of a developer's own GATEHOUSE_* settings; development mode
# on loopback, fast hashing (8 threads), every rate limit raised (so the tools meet the
# application, not 429s), lockout reduced to 1-second locks (sqlmap sends thousands of wrong
# passwords), CORS
# enabled for one origin (so the Origin-reflection path is exercised by the injection stage).
for v in $(env | sed -n 's/^\(GATEHOUSE_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
mkdir -m 700 "$T/var"
export GATEHOUSE_ENV=development
export GATEHOUSE_LISTEN="127.0.0.1:$PORT"
export GATEHOUSE_DATA_DIR="$T/var"
export GATEHOUSE_TEST_INSECURE_FAST_HASH=1
export GATEHOUSE_LOG_LEVEL=debug
export GATEHOUSE_INTROSPECTION_CLIENTS="$INTROSPECT_CRED"
export GATEHOUSE_CORS_ORIGINS=http://app.example.test
# Hashing threads run at SCHED_IDLE: on a busy machine two of them starve and every login-type
# sqlmap request waits for a CPU slice. More of them keep the run's length independent of
# whatever else the machine is doing; no effect on what is tested.
export GATEHOUSE_HASH_THREADS=8
export GATEHOUSE_LOCKOUT_THRESHOLD=1000
export GATEHOUSE_LOCKOUT_BASE_SECONDS=1
export GATEHOUSE_LOCKOUT_MAX_SECONDS=1
for rule in API LOGIN REGISTER REFRESH PASSWORD; do
    export "GATEHOUSE_RATELIMIT_${rule}_PER_MIN=60000000"
    export "GATEHOUSE_RATELIMIT_${rule}_BURST=1000000"
done
export GH_ATTACK_PASSWORD="$PASSWORD" GH_ATTACK_INTROSPECT_CRED="$INTROSPECT_CRED"
export GH_ATTACK_GATEHOUSE_NOFILE="$GH_NOFILE" PYTHONDONTWRITEBYTECODE=1
# slowhttptest needs more descriptors than the connections it holds.
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true

# Start gatehouse with the soft open-files limit of a default shell or systemd service; its log
# goes to $1; $2 (optional) is a clock offset for libfaketime, e.g. -7200.
start_gatehouse() {
    log=$1
    offset=${2:-}
    if [ -n "$offset" ]; then
        (ulimit -Sn "$GH_NOFILE" 2>/dev/null || true; cd "$T" &&
            LD_PRELOAD=$FAKETIME_LIB FAKETIME=$offset FAKETIME_DONT_FAKE_MONOTONIC=1 exec "$BIN" serve) 2>"$log" >/dev/null &
    else
        (ulimit -Sn "$GH_NOFILE" 2>/dev/null || true; cd "$T" && exec "$BIN" serve) 2>"$log" >/dev/null &
    fi
    GH_PID=$!
    wait_http "$URL/healthz" "$GH_PID" || { tail -20 "$log" >&2; fail "gatehouse did not start (clock $offset)"; }
}
stop_gatehouse() { # → GH_EXIT
    kill -TERM "$GH_PID" 2>/dev/null || true
    GH_EXIT=0
    wait "$GH_PID" || GH_EXIT=$?
    GH_PID=""
}

status=0
# stage NAME CAP_SECONDS COMMAND...: run under min(CAP, what is left of the budget − 20 s).
stage() {
    name=$1 cap=$2
    shift 2
    now=$(date +%s)
    left=$((DEADLINE - now - 20))
    limit=$cap
    [ "$left" -lt "$limit" ] && limit=$left
    if [ "$limit" -le 0 ]; then
        printf '%s\t0\t%s\tskipped (budget)\n' "$name" "$cap" >>"$OUT/timing.tsv"
        echo "attack: stage $name skipped: the ${BUDGET} s budget is spent" >&2
        status=1
        return 0
    fi
    echo "::: attack stage '$name' (at most $limit s)"
    s=$(date +%s)
    { rc=0; timeout -k 5 "$limit" "$@" 2>&1 || rc=$?; echo "$rc" >"$T/rc"; } | tee "$OUT/$name.log"
    rc=$(cat "$T/rc")
    e=$(date +%s)
    verdict=pass
    [ "$rc" -eq 0 ] || verdict="FAIL (exit $rc)"
    [ "$rc" -eq 124 ] && verdict="FAIL (timed out after $limit s)"
    printf '%s\t%s\t%s\t%s\n' "$name" "$((e - s))" "$limit" "$verdict" >>"$OUT/timing.tsv"
    echo "::: attack stage '$name' took $((e - s)) s: $verdict"
    [ "$rc" -eq 0 ] || status=1
}

want() { case " $STAGES " in *" $1 "*) return 0 ;; esac; return 1; }
record() { # NAME START_EPOCH CAP VERDICT
    printf '%s\t%s\t%s\t%s\n' "$1" "$(( $(date +%s) - $2 ))" "$3" "$4" >>"$OUT/timing.tsv"
}

# 1. Tokens with a valid signature but a shifted clock, minted before the real server starts
#    by gatehouse under faketime on the same data directory and port (same key, same issuer).
#    Bounded by wait_http (20 s) and the client's 10 s timeouts.
if want jwt; then
    s=$(date +%s)
    echo "::: attack stage 'timeshift'"
    for shift in -7200 +3600; do
        start_gatehouse "$OUT/server-faketime$shift.log" "$shift"
        python3 "$HERE/timeshift.py" "$URL" "timeshift$shift@example.com" "$PASSWORD" "$shift" >"$T/ts$shift" ||
            { stop_gatehouse; fail "could not mint a token under faketime $shift"; }
        stop_gatehouse
        [ "$GH_EXIT" -eq 0 ] || fail "gatehouse under faketime $shift exited $GH_EXIT after SIGTERM"
    done
    python3 -c 'import json,sys; json.dump({"expired": open(sys.argv[1]).read().strip(), "future": open(sys.argv[2]).read().strip()}, open(sys.argv[3], "w"))' \
        "$T/ts-7200" "$T/ts+3600" "$OUT/timeshift.json"
    record timeshift "$s" 60 pass
fi

# 2. The controls: injectable (threaded, for sqlmap) and single-threaded (for slowloris).
CTL_SQL_PORT=$(free_port)
python3 "$HERE/vulnerable.py" "$CTL_SQL_PORT" >/dev/null 2>&1 &
CTL_PIDS="$CTL_PIDS $!"
wait_http "http://127.0.0.1:$CTL_SQL_PORT/healthz" "$!" || fail "the sqlmap control did not start"
CTL_SLOW_PORT=$(free_port)
python3 "$HERE/vulnerable.py" "$CTL_SLOW_PORT" --single-thread >/dev/null 2>&1 &
CTL_PIDS="$CTL_PIDS $!"
wait_http "http://127.0.0.1:$CTL_SLOW_PORT/healthz" "$!" || fail "the slowloris control did not start"

# 3. gatehouse itself, an admin (operator CLI while it serves) and the fixtures.
s=$(date +%s)
start_gatehouse "$OUT/server.log"
ADMIN_EMAIL=attack-admin@example.com
printf '%s\n' "$PASSWORD" | (cd "$T" && "$BIN" users create-admin "$ADMIN_EMAIL") >"$T/admin-id" 2>"$T/admin.err" ||
    { cat "$T/admin.err" >&2; fail "gatehouse users create-admin failed"; }
GH_ATTACK_ADMIN_EMAIL=$ADMIN_EMAIL GH_ATTACK_ADMIN_PASSWORD=$PASSWORD \
    timeout 30 python3 "$HERE/setup.py" "$URL" "$OUT" || fail "setup failed"
record setup "$s" 30 pass

# 4. The attacks.
want jwt && stage jwt 60 python3 "$HERE/jwt_stage.py" "$URL" "$OUT"
want malformed && stage malformed 60 python3 "$HERE/malformed_stage.py" "$URL" "$OUT"
want headers && stage headers 45 python3 "$HERE/headers_stage.py" "$URL" "$OUT"
want sqlmap && stage sqlmap 290 python3 "$HERE/sqlmap_stage.py" "$URL" "http://127.0.0.1:$CTL_SQL_PORT" "$OUT"
want slow && stage slow 150 python3 "$HERE/slow_stage.py" "$URL" "http://127.0.0.1:$CTL_SLOW_PORT" "$OUT"

# 5. Stop gatehouse: it must still be running, exit 0 on SIGTERM, and its log must be clean.
s=$(date +%s)
if ! kill -0 "$GH_PID" 2>/dev/null; then
    echo "attack: gatehouse died during the run" >&2
    status=1
fi
stop_gatehouse
echo "::: attack stage 'log' (gatehouse exited $GH_EXIT after SIGTERM)"
rc=0
python3 "$HERE/log_check.py" "$OUT/server.log" "$OUT" "$GH_EXIT" >"$OUT/log.log" 2>&1 || rc=$?
cat "$OUT/log.log"
[ "$rc" -eq 0 ] || status=1
record log "$s" 20 "$([ "$rc" -eq 0 ] && echo pass || echo "FAIL (exit $rc)")"

python3 "$HERE/report.py" "$OUT" "$BIN" "$(( $(date +%s) - START ))" "$BUDGET" "$status" || status=1
[ "$status" -eq 0 ] && echo "attack: passed ($OUT/report.md)" || echo "attack: FAILED ($OUT/report.md)" >&2
exit "$status"
