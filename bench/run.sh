#!/bin/sh
# gatehouse benchmark: nginx baseline, GET /v1/me, POST /v1/token vs raw argon2id, login timing
# (unknown email vs wrong password), RSS and time to first answer, GET /v1/me latency under a
# login flood, rate-limiter memory after 1e6 distinct client addresses. Loopback only.
#
#   cd /work/main && make bench        (or: make build && sh bench/run.sh)
#
# Needs: the release build (build/gatehouse), wrk, nginx (nginx-light), cc + libsodium-dev,
# python3, curl. Writes bench/README.md. Bounded: a watchdog ends the run after 9.5 minutes;
# every server and temp dir is removed on exit.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BIN=${GATEHOUSE_BIN:-$ROOT/build/gatehouse}
NUSERS=${BENCH_USERS:-10000}      # distinct users/tokens for GET /v1/me
NLOGIN=${BENCH_LOGIN_USERS:-32}   # users (real argon2 params) rotated by the login run
NTIMING=${BENCH_TIMING_N:-300}    # requests of each kind for the timing comparison
ME_DUR=${BENCH_ME_DURATION:-15s}
LOGIN_DUR=${BENCH_LOGIN_DURATION:-15s}
NGINX_DUR=${BENCH_NGINX_DURATION:-10s}
HEALTHZ_DUR=${BENCH_HEALTHZ_DURATION:-5s}
ISO_DUR=${BENCH_ISO_DURATION:-8s}          # each GET /v1/me run of the isolation phase
FLOOD_DUR=${BENCH_FLOOD_DURATION:-30s}     # the login flood (/v1/me paced, then saturating, then /healthz, from 3 s in)
ISO_CONNS=${BENCH_ISO_CONNS:-8}            # GET /v1/me connections of the isolation phase
ISO_DELAY_MS=${BENCH_ISO_DELAY_MS:-1}      # paced runs: each connection waits this long between requests
FLOOD_CONNS=${BENCH_FLOOD_CONNS:-32}       # concurrent logins of the flood
RL_ADDRS=${BENCH_RL_ADDRESSES:-1000000}    # distinct X-Forwarded-For addresses, in 4 segments
# must match bench/setup_users.py; strong enough for the password policy (zxcvbn, with the
# email as context: "bench-password-0123456789" is now refused as too easy to guess)
PASSWORD=Vq7-larch-Mosaic-quill-4812

for t in wrk nginx curl python3 cc pgrep chrt; do
    command -v "$t" >/dev/null 2>&1 || { echo "bench: missing $t (make deps-bench)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "bench: $BIN not built (make build)" >&2; exit 1; }

T=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
RES=$T/results.env
NGINX_PID=""; GH_PID=""; SAMPLER_PID=""; WATCHDOG_PID=""; FLOOD_PID=""; WRK_PID=""; MSAMPLER_PID=""

cleanup() {
    trap - EXIT INT TERM
    for p in $SAMPLER_PID $MSAMPLER_PID $FLOOD_PID $WRK_PID $GH_PID $NGINX_PID; do
        kill "$p" 2>/dev/null || true
    done
    for p in $SAMPLER_PID $MSAMPLER_PID $FLOOD_PID $WRK_PID $GH_PID $NGINX_PID; do
        wait "$p" 2>/dev/null || true
    done
    [ -n "$WATCHDOG_PID" ] && kill "$WATCHDOG_PID" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

# Watchdog: the whole run must stay under 10 minutes.
MAIN_PID=$$
(
    trap 'kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null; exit 0' TERM
    sleep 570 & sp=$!
    wait "$sp" && { echo "bench: watchdog: run took too long, aborting" >&2; kill -TERM "$MAIN_PID"; }
) &
WATCHDOG_PID=$!

BENCH_NAME=bench
. bench/lib.sh
# rec_wrk PREFIX FILE: turn wrk's "RESULT k=v ..." line (bench/report.lua) into PREFIX_k=v
rec_wrk() {
    line=$(grep '^RESULT ' "$2" | tail -1)
    [ -n "$line" ] || { echo "bench: no RESULT line in $2" >&2; cat "$2" >&2; exit 1; }
    for kv in ${line#RESULT }; do printf '%s_%s\n' "$1" "$kv" >>"$RES"; done
}
vmrss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# CPU ticks (utime + stime, all threads) a process has used so far
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
stop_gh() {
    [ -n "$GH_PID" ] || return 0
    kill "$GH_PID" 2>/dev/null || true
    wait "$GH_PID" 2>/dev/null || true
    GH_PID=""
}
# Every request of a benchmark comes from one address (127.0.0.1): raise the per-address rate
# limits, and the lockout threshold above the 300 wrong passwords of the timing run — the
# documented way for load tests (docs/configuration.md), never a default.
RAISED="GATEHOUSE_RATELIMIT_API_PER_MIN=60000000 GATEHOUSE_RATELIMIT_API_BURST=1000000
GATEHOUSE_RATELIMIT_LOGIN_PER_MIN=60000000 GATEHOUSE_RATELIMIT_LOGIN_BURST=1000000
GATEHOUSE_RATELIMIT_REGISTER_PER_MIN=60000000 GATEHOUSE_RATELIMIT_REGISTER_BURST=1000000
GATEHOUSE_RATELIMIT_REFRESH_PER_MIN=60000000 GATEHOUSE_RATELIMIT_REFRESH_BURST=1000000
GATEHOUSE_LOCKOUT_THRESHOLD=1000"
LIMITS=$RAISED   # emptied for the rate-limiter phase (7), which needs the default limits
# start_gh DATA_DIR LOGFILE [ENV=VALUE ...]: start gatehouse serve in the background
start_gh() {
    dd=$1; lf=$2; shift 2
    # shellcheck disable=SC2086
    env GATEHOUSE_DATA_DIR="$dd" GATEHOUSE_LISTEN="127.0.0.1:$GH_PORT" $LIMITS "$@" "$BIN" serve >>"$lf" 2>&1 &
    GH_PID=$!
    wait_http "http://127.0.0.1:$GH_PORT/healthz" "$GH_PID"
}

: >"$RES"
rec clk_tck "$(getconf CLK_TCK)"
START_TS=$(date +%s)

# ---------------------------------------------------------------- machine
log "machine"
rec date "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
rec nproc "$(nproc)"
rec cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
rec mem "$(awk '/^MemTotal:/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
rec kernel "$(uname -srm)"
rec os "$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}")"
rec wrk_version "$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
rec nginx_version "$(nginx -v 2>&1 | sed 's/.*nginx\///')"
rec libsodium "$(dpkg-query -W -f='${Version}' libsodium23 2>/dev/null || echo unknown)"
rec gatehouse_bin "$BIN ($(stat -c %s "$BIN") bytes)"

GH_PORT=$(free_port)
NGINX_PORT=$(free_port)
[ "$GH_PORT" != "$NGINX_PORT" ] || NGINX_PORT=$(free_port)
METRICS_PORT=$(free_port)
while [ "$METRICS_PORT" = "$GH_PORT" ] || [ "$METRICS_PORT" = "$NGINX_PORT" ]; do METRICS_PORT=$(free_port); done

# ---------------------------------------------------------------- 1. nginx baseline
log "1. nginx static 200 baseline"
mkdir -p "$T/nginx/tmp"
cat >"$T/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $T/nginx/tmp/body;
    proxy_temp_path $T/nginx/tmp/proxy;
    fastcgi_temp_path $T/nginx/tmp/fastcgi;
    uwsgi_temp_path $T/nginx/tmp/uwsgi;
    scgi_temp_path $T/nginx/tmp/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / { default_type text/plain; return 200 "ok\n"; }
    }
}
EOF
nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" -e "$T/nginx/error.log" &
NGINX_PID=$!
wait_http "http://127.0.0.1:$NGINX_PORT/" "$NGINX_PID"
rec_load nginx
CMD_NGINX="wrk -t1 -c32 -d$NGINX_DUR --latency -s bench/static.lua http://127.0.0.1:$NGINX_PORT/"
rec cmd_nginx "$CMD_NGINX"
NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1)
t0=$(cputicks "$NGINX_WORKER")
$CMD_NGINX >"$T/wrk_nginx.txt" 2>&1
rec cpu_nginx_ticks "$(( $(cputicks "$NGINX_WORKER") - t0 ))"
rec_wrk nginx "$T/wrk_nginx.txt"
# nginx stays up (idle) and is measured again right after GET /v1/me: this machine is shared,
# so the ratio uses the better of the two baselines (the stricter comparison).

# ---------------------------------------------------------------- 2. users + tokens (fast hash)
DATA=$T/data
mkdir -p "$DATA"
log "2a. creating $NUSERS users + tokens (setup server with GATEHOUSE_TEST_INSECURE_FAST_HASH=1)"
start_gh "$DATA" "$T/gh-setup.log" GATEHOUSE_TEST_INSECURE_FAST_HASH=1
s0=$(date +%s)
timeout 240 python3 bench/setup_users.py "127.0.0.1:$GH_PORT" "$NUSERS" me 16 "$T/tokens.txt" >"$T/setup.txt"
rec setup_s "$(( $(date +%s) - s0 ))"
rec nlogin "$NLOGIN"
rec tokens "$(sort -u "$T/tokens.txt" | wc -l)"
stop_gh

# ---------------------------------------------------------------- 2b. measured server
log "2b. measured server (default argon2id params) on the same data dir"
start_gh "$DATA" "$T/gh.log"
rec measured_env "GATEHOUSE_DATA_DIR=<tmp> GATEHOUSE_LISTEN=127.0.0.1:$GH_PORT <rate limits and lockout threshold raised> $BIN serve (all other settings default)"
sleep 2
rec rss_idle_kib "$(vmrss "$GH_PID")"

# sanity: a token from the setup run is accepted by the measured server
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(sed -n 1p "$T/tokens.txt")" \
    "http://127.0.0.1:$GH_PORT/v1/me")
[ "$code" = 200 ] || { echo "bench: setup token refused by measured server (HTTP $code)" >&2; exit 1; }

sample_rss() { # PID OUT: VmRSS every 100 ms until killed (one process: no fork per sample)
    exec python3 bench/rss_sampler.py "$1" "$2"
}

# diagnostic: the HTTP layer alone (no auth, no database), to split the /v1/me cost
log "2c. GET /healthz (HTTP layer only, diagnostic)"
rec_load healthz
CMD_HEALTHZ="wrk -t1 -c32 -d$HEALTHZ_DUR --latency -s bench/static.lua http://127.0.0.1:$GH_PORT/healthz"
rec cmd_healthz "$CMD_HEALTHZ"
t0=$(cputicks "$GH_PID")
$CMD_HEALTHZ >"$T/wrk_healthz.txt" 2>&1
rec cpu_healthz_ticks "$(( $(cputicks "$GH_PID") - t0 ))"
rec_wrk healthz "$T/wrk_healthz.txt"

log "2d. GET /v1/me, first pass over $NUSERS tokens (cold caches: every token verified, every session read)"
wrk -t1 -c32 -d3s --latency -s bench/me.lua "http://127.0.0.1:$GH_PORT" -- "$T/tokens.txt" 1 \
    >"$T/wrk_me_cold.txt" 2>&1
rec_wrk me_cold "$T/wrk_me_cold.txt"

log "2d. GET /v1/me, $NUSERS tokens rotated (steady state)"
: >"$T/rss_me.txt"
sample_rss "$GH_PID" "$T/rss_me.txt" &
SAMPLER_PID=$!
rec_load me
CMD_ME="wrk -t1 -c32 -d$ME_DUR --latency -s bench/me.lua http://127.0.0.1:$GH_PORT -- <tokens.txt> 1"
rec cmd_me "$CMD_ME"
t0=$(cputicks "$GH_PID")
wrk -t1 -c32 -d"$ME_DUR" --latency -s bench/me.lua "http://127.0.0.1:$GH_PORT" -- "$T/tokens.txt" 1 \
    >"$T/wrk_me.txt" 2>&1
rec cpu_me_ticks "$(( $(cputicks "$GH_PID") - t0 ))"
kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=""
rec_wrk me "$T/wrk_me.txt"
rec rss_me_max_kib "$(sort -n "$T/rss_me.txt" | tail -1)"
rec rss_me_samples "$(wc -l <"$T/rss_me.txt")"

log "2e. nginx baseline again"
rec_load nginx2
t0=$(cputicks "$NGINX_WORKER")
$CMD_NGINX >"$T/wrk_nginx2.txt" 2>&1
rec cpu_nginx2_ticks "$(( $(cputicks "$NGINX_WORKER") - t0 ))"
rec_wrk nginx2 "$T/wrk_nginx2.txt"
kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=""

# ---------------------------------------------------------------- 3. logins vs raw argon2id
log "3a. creating $NLOGIN users with real argon2id params"
timeout 120 python3 bench/setup_users.py "127.0.0.1:$GH_PORT" "$NLOGIN" login 4 "$T/login_tokens.txt" \
    "$T/login_emails.txt" >"$T/setup_login.txt"

log "3b. raw argon2id verify rate (bench/argon2_rate.c)"
cc -O2 -o "$T/argon2_rate" bench/argon2_rate.c -lsodium -lpthread
rec cmd_argon2 "cc -O2 -o argon2_rate bench/argon2_rate.c -lsodium -lpthread && ./argon2_rate 2 10 2 19456"
rec_load argon2
"$T/argon2_rate" 1 3 2 19456 >"$T/argon2_1.txt"
"$T/argon2_rate" 2 10 2 19456 >"$T/argon2_2.txt"
rec argon2_t1_rate "$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' "$T/argon2_1.txt")"
rec argon2_t2_rate "$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' "$T/argon2_2.txt")"
rec argon2_t1_ms "$(sed -n 's/.* per_thread_ms=\([0-9.]*\).*/\1/p' "$T/argon2_1.txt")"

log "3c. POST /v1/token, $NLOGIN users rotated"
: >"$T/rss_login.txt"
sample_rss "$GH_PID" "$T/rss_login.txt" &
SAMPLER_PID=$!
rec_load login
CMD_LOGIN="wrk -t1 -c8 -d$LOGIN_DUR --latency --timeout 10s -s bench/login.lua http://127.0.0.1:$GH_PORT -- <emails.txt> $PASSWORD 1"
rec cmd_login "$CMD_LOGIN"
wrk -t1 -c8 -d"$LOGIN_DUR" --latency --timeout 10s -s bench/login.lua "http://127.0.0.1:$GH_PORT" -- \
    "$T/login_emails.txt" "$PASSWORD" 1 >"$T/wrk_login.txt" 2>&1
kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=""
rec_wrk login "$T/wrk_login.txt"
# raw rate again right after (shared machine): the ratio uses the better of the two
rec_load argon2b
"$T/argon2_rate" 2 10 2 19456 >"$T/argon2_2b.txt"
rec argon2_t2b_rate "$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' "$T/argon2_2b.txt")"
rec rss_login_max_kib "$(sort -n "$T/rss_login.txt" | tail -1)"
sleep 1
rec rss_after_kib "$(vmrss "$GH_PID")"

# ---------------------------------------------------------------- 4. timing: unknown vs wrong pw
log "4. unknown email vs wrong password, $NTIMING each, interleaved"
rec_load timing
rec cmd_timing "python3 bench/timing.py 127.0.0.1:$GH_PORT <emails.txt> $NTIMING <out>"
timeout 180 python3 bench/timing.py "127.0.0.1:$GH_PORT" "$T/login_emails.txt" "$NTIMING" "$T/timing" \
    | sed 's/^/timing_/' >>"$RES"
stop_gh

# ---------------------------------------------------------------- 5. time to first answer
log "5. time to first /healthz 200 (5 runs populated data dir, 5 runs fresh dir)"
rec cmd_startup "python3 bench/startup.py build/gatehouse <port> 5 <data dir>|fresh <log>"
timeout 120 python3 bench/startup.py "$BIN" "$GH_PORT" 5 "$DATA" "$T/gh-start.log" | sed 's/^/start_/' >>"$RES"
timeout 120 python3 bench/startup.py "$BIN" "$GH_PORT" 5 fresh "$T/gh-start.log" | sed 's/^/startfresh_/' >>"$RES"

# ---------------------------------------------------------------- 6. isolation under a login flood
# The measured server again (same data dir, tokens and login users, default argon2id params),
# plus the metrics listener for the hash queue depth. GET /v1/me runs of one shape: alone, under
# a login flood that keeps the hashing pool busy (and its queue non-empty), alone again after.
log "6. GET /v1/me alone vs under a login flood ($FLOOD_CONNS concurrent logins)"
start_gh "$DATA" "$T/gh-iso.log" GATEHOUSE_METRICS_LISTEN="127.0.0.1:$METRICS_PORT"
wait_http "http://127.0.0.1:$METRICS_PORT/metrics" "$GH_PID"
rec iso_env "measured server + GATEHOUSE_METRICS_LISTEN=127.0.0.1:$METRICS_PORT"
rec iso_flood_conns "$FLOOD_CONNS"
CMD_ISO_PACED="wrk -t1 -c$ISO_CONNS -d$ISO_DUR --latency -s bench/me_paced.lua http://127.0.0.1:$GH_PORT -- <tokens.txt> 1 $ISO_DELAY_MS"
CMD_ISO_ME="wrk -t1 -c$ISO_CONNS -d$ISO_DUR --latency -s bench/me.lua http://127.0.0.1:$GH_PORT -- <tokens.txt> 1"
CMD_ISO_FLOOD="wrk -t1 -c$FLOOD_CONNS -d$FLOOD_DUR --latency --timeout 10s -s bench/login.lua http://127.0.0.1:$GH_PORT -- <emails.txt> $PASSWORD 1"
rec cmd_iso_paced "$CMD_ISO_PACED"
rec cmd_iso_me "$CMD_ISO_ME"
rec cmd_iso_flood "$CMD_ISO_FLOOD   (3 s later, in parallel: the paced run, then the saturating run above)"
rec iso_delay_ms "$ISO_DELAY_MS"
rec iso_conns "$ISO_CONNS"
iso_paced() { # OUT
    timeout 60 wrk -t1 -c"$ISO_CONNS" -d"$ISO_DUR" --latency -s bench/me_paced.lua \
        "http://127.0.0.1:$GH_PORT" -- "$T/tokens.txt" 1 "$ISO_DELAY_MS" >"$1" 2>&1
}
iso_me() { # OUT
    timeout 60 wrk -t1 -c"$ISO_CONNS" -d"$ISO_DUR" --latency -s bench/me.lua "http://127.0.0.1:$GH_PORT" -- \
        "$T/tokens.txt" 1 >"$1" 2>&1
}
# diagnostic: the HTTP layer alone (no token check, no storage), same shape, 5 s
iso_hz() { # OUT
    timeout 60 wrk -t1 -c"$ISO_CONNS" -d5s --latency -s bench/static.lua "http://127.0.0.1:$GH_PORT/healthz" \
        >"$1" 2>&1
}
now() { date +%s.%N; }
# a restarted server has cold token and session caches: one pass over the tokens first
timeout 30 wrk -t1 -c8 -d3s -s bench/me.lua "http://127.0.0.1:$GH_PORT" -- "$T/tokens.txt" 1 >/dev/null 2>&1
timeout 180 python3 bench/metrics_sample.py sample "http://127.0.0.1:$METRICS_PORT/metrics" \
    "$T/iso_metrics.txt" 0.5 &
MSAMPLER_PID=$!
ps -L -o tid,ni,pri,time,comm -p "$GH_PID" >"$T/iso_threads_before.txt" 2>&1 || true
rec_load iso_alone
iso_paced "$T/wrk_isop_alone.txt"
rec_wrk isop_alone "$T/wrk_isop_alone.txt"
iso_me "$T/wrk_iso_alone.txt"
rec_wrk iso_alone "$T/wrk_iso_alone.txt"
iso_hz "$T/wrk_iso_hz_alone.txt"
rec_wrk iso_hz_alone "$T/wrk_iso_hz_alone.txt"
sleep 2 # the yielding hashing thread's window (1 s) ends before the flood starts
rec_load iso_flood
tf0=$(now)
timeout 90 wrk -t1 -c"$FLOOD_CONNS" -d"$FLOOD_DUR" --latency --timeout 10s -s bench/login.lua \
    "http://127.0.0.1:$GH_PORT" -- "$T/login_emails.txt" "$PASSWORD" 1 >"$T/wrk_iso_login.txt" 2>&1 &
FLOOD_PID=$!
sleep 3
ti0=$(now)
ps -L -o tid,ni,pri,time,comm -p "$GH_PID" >"$T/iso_threads_flood0.txt" 2>&1 || true
iso_paced "$T/wrk_isop_flood.txt"
ti1=$(now)
iso_me "$T/wrk_iso_flood.txt"
ps -L -o tid,ni,pri,time,comm -p "$GH_PID" >"$T/iso_threads_flood1.txt" 2>&1 || true
ti2=$(now)
iso_hz "$T/wrk_iso_hz_flood.txt"
th1=$(now)
wait "$FLOOD_PID" || true
FLOOD_PID=""
tf1=$(now)
rec_wrk isop_flood "$T/wrk_isop_flood.txt"
rec_wrk iso_flood "$T/wrk_iso_flood.txt"
rec_wrk iso_hz_flood "$T/wrk_iso_hz_flood.txt"
rec_wrk iso_login "$T/wrk_iso_login.txt"
sleep 2 # the queue drains (at most a few dozen jobs at ~50/s)
rec_load iso_alone2
iso_paced "$T/wrk_isop_alone2.txt"
rec_wrk isop_alone2 "$T/wrk_isop_alone2.txt"
iso_me "$T/wrk_iso_alone2.txt"
rec_wrk iso_alone2 "$T/wrk_iso_alone2.txt"
kill "$MSAMPLER_PID" 2>/dev/null || true; wait "$MSAMPLER_PID" 2>/dev/null || true; MSAMPLER_PID=""
python3 bench/metrics_sample.py summary "$T/iso_metrics.txt" "$ti0" "$ti1" | sed 's/^/isoq_me_/' >>"$RES"
python3 bench/metrics_sample.py summary "$T/iso_metrics.txt" "$ti1" "$ti2" | sed 's/^/isoq_sat_/' >>"$RES"
python3 bench/metrics_sample.py summary "$T/iso_metrics.txt" "$ti2" "$th1" | sed 's/^/isoq_hz_/' >>"$RES"
python3 bench/metrics_sample.py summary "$T/iso_metrics.txt" "$tf0" "$tf1" | sed 's/^/isoq_flood_/' >>"$RES"
stop_gh

# 6x. The machine's own floor for the saturating shape: nginx (static 200, nothing to compute)
# with the same wrk shape, alone and while two argon2id threads under SCHED_IDLE run in another
# process (bench/argon2_rate, as in 3b). No gatehouse code is involved in either run.
log "6x. nginx alone vs beside two SCHED_IDLE argon2id threads (the machine's floor)"
nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" -e "$T/nginx/error.log" &
NGINX_PID=$!
wait_http "http://127.0.0.1:$NGINX_PORT/" "$NGINX_PID"
CMD_ISO_NGX="wrk -t1 -c$ISO_CONNS -d$ISO_DUR --latency -s bench/static.lua http://127.0.0.1:$NGINX_PORT/"
rec cmd_iso_ngx "$CMD_ISO_NGX   (alone, then beside: chrt -i 0 argon2_rate 2 <ISO_DUR + 2> 2 19456)"
$CMD_ISO_NGX >"$T/wrk_iso_ngx_alone.txt" 2>&1
rec_wrk iso_ngx_alone "$T/wrk_iso_ngx_alone.txt"
ngx_secs=$(( ${ISO_DUR%s} + 2 ))
chrt -i 0 "$T/argon2_rate" 2 "$ngx_secs" 2 19456 >"$T/argon2_iso.txt" 2>&1 &
ARGON_PID=$!
sleep 1
$CMD_ISO_NGX >"$T/wrk_iso_ngx_argon.txt" 2>&1
rec_wrk iso_ngx_argon "$T/wrk_iso_ngx_argon.txt"
wait "$ARGON_PID" || true
kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=""

# ---------------------------------------------------------------- 7. rate limiter memory
# A fresh server that believes X-Forwarded-For from 127.0.0.1, every rate limit at its default,
# log level warn (at info every 401 is a log line: a million lines of disk I/O, nothing else).
# GET /v1/me without a token: the rate-limit guard runs before authentication, so each request
# charges its address's API budget and is then answered 401.
log "7. rate limiter: $RL_ADDRS distinct X-Forwarded-For addresses, default limits"
LIMITS=""
mkdir -p "$T/data-rl"
RL_ENV="GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32 GATEHOUSE_LOG_LEVEL=warn"
# shellcheck disable=SC2086
start_gh "$T/data-rl" "$T/gh-rl.log" $RL_ENV
rec rl_env "GATEHOUSE_DATA_DIR=<fresh tmp> GATEHOUSE_LISTEN=127.0.0.1:$GH_PORT $RL_ENV $BIN serve (rate limits and GATEHOUSE_RATELIMIT_MAX_KEYS default)"
sleep 1
rec rl_rss_start_kib "$(vmrss "$GH_PID")"
# the limiter bites before: one address, 600 requests back to back
timeout 60 python3 bench/burst.py "127.0.0.1:$GH_PORT" 192.0.2.1 600 | sed 's/^/rl_burst0_/' >>"$RES"
rec rl_rss_before_kib "$(vmrss "$GH_PID")"
: >"$T/rss_rl.txt"
sample_rss "$GH_PID" "$T/rss_rl.txt" &
SAMPLER_PID=$!
rec_load rl
seg_n=$((RL_ADDRS / 4))
CMD_RL="wrk -t1 -c32 -d300s --latency -s bench/xff.lua http://127.0.0.1:$GH_PORT -- <start> $seg_n <done file> 1   (4 segments, start = 0, $seg_n, ...; SIGINT once done)"
rec cmd_rl "$CMD_RL"
rl_s0=$(date +%s)
for seg in 1 2 3 4; do
    rm -f "$T/xff_done".*
    wrk -t1 -c32 -d300s --latency -s bench/xff.lua "http://127.0.0.1:$GH_PORT" -- \
        $(( (seg - 1) * seg_n )) "$seg_n" "$T/xff_done" 1 >"$T/wrk_rl$seg.txt" 2>&1 &
    WRK_PID=$!
    # wrk sleeps out -d even after its thread stopped: end it (SIGINT, it then reports) when the
    # script says its range is sent, or after 100 s at most
    i=0
    while [ ! -e "$T/xff_done.0" ] && [ $i -lt 1000 ] && kill -0 "$WRK_PID" 2>/dev/null; do
        sleep 0.1; i=$((i + 1))
    done
    kill -INT "$WRK_PID" 2>/dev/null || true
    wait "$WRK_PID" || true
    WRK_PID=""
    rec_wrk "rl$seg" "$T/wrk_rl$seg.txt"
    rec "rl_rss_seg${seg}_kib" "$(vmrss "$GH_PID")"
done
rec rl_s "$(( $(date +%s) - rl_s0 ))"
sleep 1
kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=""
rec rl_rss_after_kib "$(vmrss "$GH_PID")"
rec rl_rss_max_kib "$(sort -n "$T/rss_rl.txt" | tail -1)"
rec rl_rss_samples "$(wc -l <"$T/rss_rl.txt")"
# ... and still bites after: a new address, then the first one again
timeout 60 python3 bench/burst.py "127.0.0.1:$GH_PORT" 198.51.100.7 600 | sed 's/^/rl_burst1_/' >>"$RES"
timeout 60 python3 bench/burst.py "127.0.0.1:$GH_PORT" 192.0.2.1 600 | sed 's/^/rl_burst2_/' >>"$RES"
rec rl_rss_end_kib "$(vmrss "$GH_PID")"
stop_gh
LIMITS=$RAISED

rec total_s "$(( $(date +%s) - START_TS ))"
rec log_lines_me_run "$(wc -l <"$T/gh.log")"

# ---------------------------------------------------------------- report
log "writing bench/README.md"
python3 bench/report.py "$RES" "$T" bench/README.md
log "done in $(( $(date +%s) - START_TS )) s"
