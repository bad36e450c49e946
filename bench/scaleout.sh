#!/bin/sh
# gatehouse scale-out benchmark (issue 7): GET /v1/me and POST /v1/token/refresh for
#   sq    one instance on SQLite (the default deployment)
#   pg    one instance on PostgreSQL
#   pgr   one instance on PostgreSQL + Redis (shared rate limits): the cost of Redis alone
#   pg2   two instances on the same PostgreSQL + Redis, wrk's load split across both
#   pgt   (diagnostic) one pg+redis instance with GATEHOUSE_RATELIMIT_API_SHARED=false (the
#         general budget in memory: a token check makes no Redis round trip)
# with the CPU each process spent per request (/proc/PID/stat), the database statements and
# transactions per request (pg_stat_statements, pg_stat_database) and the Redis round trips per
# request (INFO commandstats). Every instance runs from the start; after a cold pass each, two
# rounds (the second in reverse order) measure every configuration, so that other work on this
# shared machine hits them alike; the report quotes each one's better round. Loopback only, one
# machine. Writes bench/SCALEOUT.md.
#
#   cd /work/main && make bench-scaleout      (or: make build && sh bench/scaleout.sh)
#
# Needs: the release build (GATEHOUSE_BIN, default build/gatehouse), wrk, PostgreSQL server
# binaries (Debian's postgresql), redis-server + redis-cli, psql, sqlite3, python3, curl.
# Starts a throw-away PostgreSQL cluster with scripts/pg-test-cluster.sh (trust auth, loopback:
# a benchmark convenience, never a deployment) in BENCH_PG_DIR (/tmp/bench-pg) on BENCH_PG_PORT
# (55443), and a Redis on a unix socket in a temp dir. Bounded: a watchdog ends the run after
# 6 minutes; every server and temp dir is removed on exit (the cluster too).
# shellcheck disable=SC2034 # the CFG_* variables are read through cfg() (eval)
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BIN=${GATEHOUSE_BIN:-$ROOT/build/gatehouse}
ME_TOKENS=${BENCH_SO_ME_TOKENS:-2000}     # distinct access tokens (sessions) for GET /v1/me
SEEDS=${BENCH_SO_SEEDS:-300}             # refresh tokens minted per refresh run (the queue's start)
ME_DUR=${BENCH_SO_ME_DURATION:-8s}
RF_DUR=${BENCH_SO_REFRESH_DURATION:-8s}
ROUNDS=2
CONNS=${BENCH_SO_CONNS:-32}
PG_DIR=${BENCH_PG_DIR:-/tmp/bench-pg}
PG_PORT=${BENCH_PG_PORT:-55443}
OUT=${BENCH_SO_OUT:-$ROOT/bench/SCALEOUT.md}
# must match bench/setup_users.py
PASSWORD=Vq7-larch-Mosaic-quill-4812
NUSERS=200      # users; every /v1/me token and refresh seed is its own login (session) of one

for t in wrk redis-server redis-cli psql sqlite3 curl python3; do
    command -v "$t" >/dev/null 2>&1 || {
        echo "scaleout: missing $t (make bench-scaleout installs it)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "scaleout: $BIN not built (make build)" >&2; exit 1; }
PG_BINDIR=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PG_BINDIR" ] && [ -x "$PG_BINDIR/pg_ctl" ] || {
    echo "scaleout: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }

T=$(mktemp -d /tmp/gatehouse-scaleout.XXXXXX)
chmod 700 "$T"
RES=$T/results.env
GH_PIDS=""; REDIS_PID=""; WATCHDOG_PID=""; WRK_PID=""; PG_STARTED=""

pg_cluster() { GH_PG_DIR=$PG_DIR GH_PG_PORT=$PG_PORT sh scripts/pg-test-cluster.sh "$@"; }
cleanup() {
    trap - EXIT INT TERM
    for p in $WRK_PID $GH_PIDS $REDIS_PID; do kill "$p" 2>/dev/null || true; done
    for p in $WRK_PID $GH_PIDS $REDIS_PID; do wait "$p" 2>/dev/null || true; done
    [ -z "$PG_STARTED" ] || pg_cluster stop >/dev/null 2>&1 || true
    [ -n "$WATCHDOG_PID" ] && kill "$WATCHDOG_PID" 2>/dev/null || true
    [ -n "${BENCH_SO_KEEP:-}" ] && echo "scaleout: kept $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT
trap 'echo "scaleout: interrupted" >&2; exit 130' INT TERM

MAIN_PID=$$
(
    trap 'kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null; exit 0' TERM
    sleep 360 & sp=$!
    wait "$sp" && { echo "scaleout: watchdog: run took too long, aborting" >&2; kill -TERM "$MAIN_PID"; }
) &
WATCHDOG_PID=$!

BENCH_NAME=scaleout
BENCH_DIED_HINT='(BENCH_SO_KEEP=1)'
. bench/lib.sh
# rec_kv PREFIX FILE: every k=v word of FILE's "RESULT" line (or of the whole file) as PREFIX_k=v
rec_kv() {
    line=$(grep '^RESULT ' "$2" | tail -1 || true)
    [ -n "$line" ] || line=$(cat "$2")
    [ -n "$line" ] || { echo "scaleout: nothing in $2" >&2; exit 1; }
    for kv in ${line#RESULT }; do printf '%s_%s\n' "$1" "$kv" >>"$RES"; done
}

# As in bench/run.sh: all load comes from 127.0.0.1, so the per-address limits are raised (the
# documented way for load tests, never a default). Every instance shares the master key (it
# unwraps the signing and hashing keys kept in the database) and the issuer (the default,
# http://<listen>, differs per port: tokens of one instance would be refused by the other).
RAISED="GATEHOUSE_RATELIMIT_API_PER_MIN=60000000 GATEHOUSE_RATELIMIT_API_BURST=1000000
GATEHOUSE_RATELIMIT_LOGIN_PER_MIN=60000000 GATEHOUSE_RATELIMIT_LOGIN_BURST=1000000
GATEHOUSE_RATELIMIT_REGISTER_PER_MIN=60000000 GATEHOUSE_RATELIMIT_REGISTER_BURST=1000000
GATEHOUSE_RATELIMIT_REFRESH_PER_MIN=60000000 GATEHOUSE_RATELIMIT_REFRESH_BURST=1000000
GATEHOUSE_LOCKOUT_THRESHOLD=1000"
head -c32 /dev/urandom | base64 >"$T/master.key"
chmod 600 "$T/master.key"
COMMON="GATEHOUSE_MASTER_KEY_FILE=$T/master.key GATEHOUSE_ISSUER=http://gatehouse.bench.invalid"
# start_gh NAME PORT [ENV=VALUE ...]: a gatehouse serve in the background (data dir $T/data-NAME,
# log $T/gh-NAME.log); its PID is appended to GH_PIDS and stored in LAST_PID
start_gh() {
    name=$1; port=$2; shift 2
    mkdir -p "$T/data-$name"
    # shellcheck disable=SC2086
    env GATEHOUSE_DATA_DIR="$T/data-$name" GATEHOUSE_LISTEN="127.0.0.1:$port" $RAISED $COMMON \
        "$@" "$BIN" serve >>"$T/gh-$name.log" 2>&1 &
    LAST_PID=$!
    GH_PIDS="$GH_PIDS $LAST_PID"
    wait_http "http://127.0.0.1:$port/healthz" "$LAST_PID"
}
stop_all_gh() {
    for p in $GH_PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $GH_PIDS; do wait "$p" 2>/dev/null || true; done
    GH_PIDS=""
}

# mint NAME PORT COUNT OUT: COUNT logins (fresh sessions) on a running setup server, one
# "ACCESS REFRESH" pair per line in OUT
mint() {
    rm -f "$T/mint-$1".*
    wrk -t1 -c32 -d300s -s bench/mint.lua "http://127.0.0.1:$2" -- "$T/emails.txt" "$PASSWORD" \
        "$3" "$T/mint-$1" 1 >"$T/wrk-mint-$1.txt" 2>&1 &
    WRK_PID=$!
    i=0
    while [ ! -e "$T/mint-$1.0.done" ] && [ $i -lt 1800 ] && kill -0 "$WRK_PID" 2>/dev/null; do
        sleep 0.1; i=$((i + 1))
    done
    kill -INT "$WRK_PID" 2>/dev/null || true
    wait "$WRK_PID" || true
    WRK_PID=""
    [ -e "$T/mint-$1.0.done" ] || { echo "scaleout: minting tokens failed" >&2; cat "$T/wrk-mint-$1.txt" >&2; exit 1; }
    mv "$T/mint-$1.0" "$4"
    [ "$(wc -l <"$4")" -eq "$3" ] || { echo "scaleout: $4: expected $3 pairs" >&2; exit 1; }
}

# ---- measurement of one wrk run: load, CPU of every process, database and Redis counters
PG_URL=""; PG_PID=""; REDIS_SOCK=""
psql_q() { psql "$PG_URL" -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }
redis_admin() { REDISCLI_AUTH=$REDIS_ADMIN_PW redis-cli --no-auth-warning --user admin -s "$REDIS_SOCK" "$@"; }
# A configuration C is described by CFG_PIDS_C (its gatehouse PIDs), CFG_URL_C, CFG_ADDRS_C
# (BENCH_ADDRS for wrk, or empty), CFG_DB_C (sqlite or pg) and CFG_REDIS_C (1 or empty).
cfg() { eval "echo \"\${CFG_$2_$1:-}\""; } # cfg CONFIG FIELD
cpu_specs() { # CONFIG: gatehouse (all, then each instance), PostgreSQL and Redis when it uses them
    pids=$(cfg "$1" PIDS)
    # shellcheck disable=SC2086
    specs="gh=$(echo $pids | tr ' ' ',')"
    k=0
    for p in $pids; do specs="$specs gh$k=$p"; k=$((k + 1)); done
    [ "$(cfg "$1" DB)" != pg ] || specs="$specs pg=@$PG_PID"
    [ -z "$(cfg "$1" REDIS)" ] || specs="$specs redis=$REDIS_PID"
    echo "$specs"
}
ROTATIONS_SQL="SELECT count(*) FROM refresh_tokens WHERE used_at IS NOT NULL"
rotations() { # CONFIG: refresh tokens used so far in its database (server side)
    if [ "$(cfg "$1" DB)" = sqlite ]; then
        sqlite3 "file:$T/data-sq/gatehouse.db?mode=ro" "$ROTATIONS_SQL"
    else
        psql_q "$ROTATIONS_SQL"
    fi
}
# the bench's own statements, left out of the counts
MINE="query NOT ILIKE '%pg_stat%' AND query NOT ILIKE '%count(*) FROM refresh_tokens%'"
PG_DB_COUNTERS="SELECT 'xact_commit=' || xact_commit || ' xact_rollback=' || xact_rollback ||
    ' tup_inserted=' || tup_inserted || ' tup_updated=' || tup_updated ||
    ' tup_returned=' || tup_returned || ' tup_fetched=' || tup_fetched ||
    ' blks_hit=' || blks_hit || ' blks_read=' || blks_read
    FROM pg_stat_database WHERE datname = current_database()"
# measure NAME CONFIG LUA ARGS...: one wrk run (-t2 -c$CONNS) against CONFIG's instances, with
# $DUR as its duration, or with ONCE=1 one pass over the tokens (bench/me_spread.lua)
measure() {
    name=$1; c=$2; lua=$3; shift 3
    url=$(cfg "$c" URL)
    db=$(cfg "$c" DB)
    redis=$(cfg "$c" REDIS)
    BENCH_ADDRS=$(cfg "$c" ADDRS)
    export BENCH_ADDRS
    rec_load "$name"
    if [ "$db" = pg ]; then
        # one psql: reset the statement counts; database counters; rotations so far
        psql "$PG_URL" -X -qAt -v ON_ERROR_STOP=1 -c "SELECT pg_stat_statements_reset()" \
            -c "$PG_DB_COUNTERS" -c "$ROTATIONS_SQL" >"$T/pg-$name.0"
        grep '^xact_commit=' "$T/pg-$name.0" >"$T/pgdb-$name.0"
        r0=$(tail -1 "$T/pg-$name.0")
    else
        r0=$(rotations "$c")
    fi
    [ -z "$redis" ] || redis_admin CONFIG RESETSTAT >/dev/null
    # shellcheck disable=SC2046
    python3 bench/cpu.py snap $(cpu_specs "$c") >"$T/cpu-$name.0"
    if [ -n "${ONCE:-}" ]; then
        # one pass over the tokens per wrk thread (bench/me_spread.lua), then SIGINT
        rm -f "$T/once-$name".*
        timeout 150 python3 bench/cpu.py run "$T/wrkcpu-$name.txt" -- \
            wrk -t2 -c"$CONNS" -d120s --latency --timeout 10s -s "$lua" "$url" -- "$@" 2 \
            "$T/once-$name" >"$T/wrk-$name.txt" 2>&1 &
        WRK_PID=$!
        i=0
        while { [ ! -e "$T/once-$name.0" ] || [ ! -e "$T/once-$name.1" ]; } && [ $i -lt 1200 ] &&
            kill -0 "$WRK_PID" 2>/dev/null; do
            sleep 0.1; i=$((i + 1))
        done
        kill -INT "$WRK_PID" 2>/dev/null || true
        wait "$WRK_PID" || true
        WRK_PID=""
    else
        timeout 120 python3 bench/cpu.py run "$T/wrkcpu-$name.txt" -- \
            wrk -t2 -c"$CONNS" -d"$DUR" --latency --timeout 10s -s "$lua" "$url" -- "$@" 2 \
            >"$T/wrk-$name.txt" 2>&1
    fi
    # shellcheck disable=SC2046
    python3 bench/cpu.py snap $(cpu_specs "$c") >"$T/cpu-$name.1"
    rec_kv "$name" "$T/wrk-$name.txt"
    python3 bench/cpu.py diff "$T/cpu-$name.0" "$T/cpu-$name.1" | sed "s/^/${name}_cpu_/" >>"$RES"
    rec_kv "${name}_wrkcpu" "$T/wrkcpu-$name.txt"
    if [ "$db" = pg ]; then
        sleep 0.6 # backends publish their pg_stat_database counts when idle, not at once
        # one psql: database counters, rotations, statements (BEGIN/COMMIT sent as prepared
        # statements are not all counted by pg_stat_statements: transactions come from
        # xact_commit), the most frequent statements
        psql "$PG_URL" -X -qAt -v ON_ERROR_STOP=1 -c "$PG_DB_COUNTERS" -c "$ROTATIONS_SQL" \
            -c "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE $MINE
                AND query !~* '^(begin|commit|rollback)'" \
            -c "SELECT calls || ' ' || regexp_replace(left(query, 90), '\s+', ' ', 'g')
                FROM pg_stat_statements WHERE $MINE ORDER BY calls DESC LIMIT 8" >"$T/pg-$name.1"
        sed -n 1p "$T/pg-$name.1" >"$T/pgdb-$name.1"
        rec "${name}_rotations" "$(( $(sed -n 2p "$T/pg-$name.1") - r0 ))"
        rec "${name}_pgstmt_calls" "$(sed -n 3p "$T/pg-$name.1")"
        sed -n '4,$p' "$T/pg-$name.1" >"$T/pgstmt-$name.txt"
        # counter deltas, as k=v
        for kv in $(cat "$T/pgdb-$name.1"); do
            k=${kv%%=*}
            a=$(tr ' ' '\n' <"$T/pgdb-$name.0" | sed -n "s/^$k=//p")
            rec "${name}_pgdb_$k" "$(( ${kv#*=} - a ))"
        done
    else
        rec "${name}_rotations" "$(( $(rotations "$c") - r0 ))"
    fi
    if [ -n "$redis" ]; then
        redis_admin INFO commandstats | tr -d '\r' >"$T/redis-$name.txt"
        # round trips: the commands gatehouse sends (EVALSHA, EVAL at first); the script's own
        # GET/SET/TIME run inside Redis and are listed apart
        rec "${name}_redis_rt" "$(sed -n 's/^cmdstat_\(evalsha\|eval\):calls=\([0-9]*\).*/\2/p' \
            "$T/redis-$name.txt" | awk '{s += $1} END {print s + 0}')"
        rec "${name}_redis_cmds" "$(sed -n 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\).*/\1:\2/p' "$T/redis-$name.txt" | tr '\n' ' ')"
    fi
    [ -z "$(sed -n 's/.*exhausted=\([1-9]\).*/\1/p' "$T/wrk-$name.txt")" ] ||
        log "warning: $name: a refresh queue ran dry (see the report)"
    for p in $(cfg "$c" PIDS); do
        kill -0 "$p" 2>/dev/null || { echo "scaleout: an instance of $c died during $name" >&2; exit 1; }
    done
}
count_logs() { # NAME FILES...: warn/error lines and refresh_reuse events in the server logs
    n=$1; shift
    rec "${n}_log_errors" "$(cat "$@" | grep -c '"level":"error"' || true)"
    rec "${n}_log_warns" "$(cat "$@" | grep -v '"event":"running_as_root"' | grep -c '"level":"warn"' || true)"
    rec "${n}_log_reuse" "$(cat "$@" | grep -c 'refresh_reuse' || true)"
    rec "${n}_log_redis_unavail" "$(cat "$@" | grep -c '"event":"ratelimit_redis_unavailable"' || true)"
}

: >"$RES"
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
rec pg_version "$("$PG_BINDIR/postgres" --version | awk '{print $3}')"
rec redis_version "$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')"
rec gatehouse_bin "$BIN ($(stat -c %s "$BIN") bytes)"
rec pg_dir_fs "$(df -T "$(dirname "$PG_DIR")" | awk 'NR == 2 {print $2 " on " $1}')"
rec conns "$CONNS"
rec me_tokens "$ME_TOKENS"
rec seeds "$SEEDS"
rec me_dur "$ME_DUR"
rec rf_dur "$RF_DUR"

# ports: sq, pg, pgr, pg2 A and B, pgt (the setup servers use the first)
PORTS=""
while [ "$(echo $PORTS | wc -w)" -lt 6 ]; do
    p=$(free_port)
    case " $PORTS " in *" $p "*) ;; *) PORTS="$PORTS $p" ;; esac
done
# shellcheck disable=SC2086
set -- $PORTS
P_SQ=$1; P_PG=$2; P_PGR=$3; P_A=$4; P_B=$5; P_PGT=$6
SETUP_PORT=$P_SQ

# setup_users_and_mint NAME COUNT: users, then COUNT logins, on the setup server; pairs in
# $T/pairs-NAME.txt, the first ME_TOKENS access tokens in $T/me-NAME.txt
setup_users_and_mint() {
    timeout 120 python3 bench/setup_users.py "127.0.0.1:$SETUP_PORT" "$NUSERS" so 16 \
        "$T/setup-tokens.txt" "$T/emails.txt" >"$T/setup-$1.txt"
    mint "$1" "$SETUP_PORT" "$2" "$T/pairs-$1.txt"
    head -n "$ME_TOKENS" "$T/pairs-$1.txt" | cut -d' ' -f1 >"$T/me-$1.txt"
}
# seeds NAME CONFIG ROUND INDEX: the INDEX-th (from 0) block of SEEDS pairs after the /v1/me
# tokens of $T/pairs-NAME.txt, as CONFIG's refresh list for ROUND
seeds() {
    sed -n "$((ME_TOKENS + $4 * SEEDS + 1)),$((ME_TOKENS + ($4 + 1) * SEEDS))p" \
        "$T/pairs-$1.txt" >"$T/seeds-$2-$3.txt"
}

# ---------------------------------------------------------------- 1. SQLite
log "1. SQLite: $NUSERS users, $ME_TOKENS + $ROUNDS x $SEEDS sessions (setup server, fast hash)"
mkdir -p "$T/data-sq"
# the setup server writes the measured server's data dir (SQLite lives there)
start_gh setup-sq "$SETUP_PORT" GATEHOUSE_TEST_INSECURE_FAST_HASH=1 GATEHOUSE_DATA_DIR="$T/data-sq"
s0=$(date +%s)
setup_users_and_mint sq "$((ME_TOKENS + ROUNDS * SEEDS))"
rec setup_sqlite_s "$(( $(date +%s) - s0 ))"
for r in $(seq 1 "$ROUNDS"); do seeds sq sq "$r" "$((r - 1))"; done
stop_all_gh

# ---------------------------------------------------------------- 2. PostgreSQL + Redis
log "2. PostgreSQL cluster ($PG_DIR, port $PG_PORT) with pg_stat_statements, Redis on a unix socket"
pg_cluster stop >/dev/null 2>&1 || true
PG_STARTED=1
eval "$(pg_cluster start 2>"$T/pg-start.log")"
PG_URL=$GH_TEST_PG_URL
as_pg_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
psql_q "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
as_pg_owner "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -w -t 60 -m fast restart >>"$T/pg-start.log" 2>&1
psql_q "CREATE EXTENSION pg_stat_statements"
PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
for s in synchronous_commit fsync wal_sync_method shared_buffers max_connections; do
    rec "pg_$s" "$(psql_q "SHOW $s")"
done
DBURL="GATEHOUSE_DATABASE_URL=$PG_URL"

mkdir -p "$T/redis"
REDIS_SOCK=$T/redis/redis.sock
REDIS_GH_PW=$(head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n')
REDIS_ADMIN_PW=$(head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n')
# the ACL of docs/deployment.md ("AUTH"), no TCP port, no persistence, bounded memory
cat >"$T/redis/redis.conf" <<EOF
port 0
unixsocket $REDIS_SOCK
unixsocketperm 700
save ""
appendonly no
dir $T/redis
logfile $T/redis/redis.log
daemonize no
maxmemory 64mb
maxmemory-policy volatile-ttl
user default off
user gatehouse on >$REDIS_GH_PW resetkeys ~gatehouse:* resetchannels -@all +evalsha +eval +get +set +time
user admin on >$REDIS_ADMIN_PW ~* &* +@all
EOF
chmod 600 "$T/redis/redis.conf"
redis-server "$T/redis/redis.conf" &
REDIS_PID=$!
i=0
until redis_admin PING 2>/dev/null | grep -q PONG; do
    i=$((i + 1)); [ $i -lt 200 ] || { echo "scaleout: redis did not start" >&2; cat "$T/redis/redis.log" >&2; exit 1; }
    sleep 0.05
done
printf 'unix://gatehouse:%s@%s' "$REDIS_GH_PW" "$REDIS_SOCK" >"$T/redis.url"
chmod 600 "$T/redis.url"
REDISURL="GATEHOUSE_REDIS_URL_FILE=$T/redis.url"

log "2. PostgreSQL: $NUSERS users, $ME_TOKENS + $ROUNDS x 4 x $SEEDS sessions (setup server, fast hash)"
start_gh setup-pg "$SETUP_PORT" GATEHOUSE_TEST_INSECURE_FAST_HASH=1 "$DBURL"
s0=$(date +%s)
setup_users_and_mint pg "$((ME_TOKENS + ROUNDS * 4 * SEEDS))"
rec setup_pg_s "$(( $(date +%s) - s0 ))"
k=0
for r in $(seq 1 "$ROUNDS"); do
    for c in pg pgr pg2 pgt; do seeds pg "$c" "$r" "$k"; k=$((k + 1)); done
done
stop_all_gh
psql_q "VACUUM ANALYZE" # fresh statistics after the bulk of inserts

# ---------------------------------------------------------------- 3. every measured instance
log "3. measured instances (real argon2id parameters, every other setting default)"
start_gh sq "$P_SQ"
CFG_PIDS_sq=$LAST_PID CFG_URL_sq=http://127.0.0.1:$P_SQ CFG_ADDRS_sq="" CFG_DB_sq=sqlite CFG_REDIS_sq=""
start_gh pg "$P_PG" "$DBURL"
CFG_PIDS_pg=$LAST_PID CFG_URL_pg=http://127.0.0.1:$P_PG CFG_ADDRS_pg="" CFG_DB_pg=pg CFG_REDIS_pg=""
start_gh pgr "$P_PGR" "$DBURL" "$REDISURL"
CFG_PIDS_pgr=$LAST_PID CFG_URL_pgr=http://127.0.0.1:$P_PGR CFG_ADDRS_pgr="" CFG_DB_pgr=pg CFG_REDIS_pgr=1
start_gh pg2a "$P_A" "$DBURL" "$REDISURL"
pa=$LAST_PID
start_gh pg2b "$P_B" "$DBURL" "$REDISURL"
CFG_PIDS_pg2="$pa $LAST_PID" CFG_URL_pg2=http://127.0.0.1:$P_A CFG_DB_pg2=pg CFG_REDIS_pg2=1
CFG_ADDRS_pg2="127.0.0.1:$P_A 127.0.0.1:$P_B"
start_gh pgt "$P_PGT" "$DBURL" "$REDISURL" GATEHOUSE_RATELIMIT_API_SHARED=false
CFG_PIDS_pgt=$LAST_PID CFG_URL_pgt=http://127.0.0.1:$P_PGT CFG_ADDRS_pgt="" CFG_DB_pgt=pg CFG_REDIS_pgt=1
metoks() { [ "$(cfg "$1" DB)" = sqlite ] && echo "$T/me-sq.txt" || echo "$T/me-pg.txt"; }
for c in sq pg pgr pg2 pgt; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(sed -n 1p "$(metoks "$c")")" \
        "$(cfg "$c" URL)/v1/me")
    [ "$code" = 200 ] || { echo "scaleout: $c refused a setup token (HTTP $code)" >&2; exit 1; }
done
# a token issued through the setup server, accepted by instance B
rec pg2_cross "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(sed -n 2p "$T/me-pg.txt")" "http://127.0.0.1:$P_B/v1/me")"

# idle cost: what the processes spend with no request at all (epoch polls, timers, PostgreSQL's
# background processes), to tell fixed costs from per-request ones
CFG_PIDS_all="$GH_PIDS" CFG_DB_all=pg CFG_REDIS_all=1
sleep 1
# shellcheck disable=SC2046
python3 bench/cpu.py snap $(cpu_specs all) >"$T/cpu-idle.0"
sleep 3
# shellcheck disable=SC2046
python3 bench/cpu.py snap $(cpu_specs all) >"$T/cpu-idle.1"
python3 bench/cpu.py diff "$T/cpu-idle.0" "$T/cpu-idle.1" | sed "s/^/idle_cpu_/" >>"$RES"
# shellcheck disable=SC2086
rec idle_instances "$(echo $GH_PIDS | wc -w)"

# ---------------------------------------------------------------- 4. cold pass, then rounds
for c in sq pg pgr pg2; do
    log "4. $c: GET /v1/me cold pass (each instance sent each of the $ME_TOKENS tokens once)"
    ONCE=1 measure "${c}_mewarm" "$c" bench/me_spread.lua "$(metoks "$c")"
done
ORDER="sq pg pgr pg2 pgt"
for r in $(seq 1 "$ROUNDS"); do
    for c in $ORDER; do
        log "5. round $r, $c: GET /v1/me, steady state ($ME_DUR)"
        DUR=$ME_DUR measure "${c}_me_r$r" "$c" bench/me_spread.lua "$(metoks "$c")"
        log "5. round $r, $c: POST /v1/token/refresh ($RF_DUR)"
        DUR=$RF_DUR measure "${c}_rf_r$r" "$c" bench/refresh.lua "$T/seeds-$c-$r.txt"
    done
    ORDER=$(echo "$ORDER" | tr ' ' '\n' | sed '1!G;h;$!d' | tr '\n' ' ') # reversed
done
rec rounds "$ROUNDS"
stop_all_gh
count_logs sq "$T/gh-sq.log"
count_logs pg "$T/gh-pg.log"
count_logs pgr "$T/gh-pgr.log"
count_logs pg2 "$T/gh-pg2a.log" "$T/gh-pg2b.log"
count_logs pgt "$T/gh-pgt.log"
for f in "$T"/pgstmt-*.txt; do
    n=$(basename "$f" .txt); n=${n#pgstmt-}
    rec "${n}_pgstmt_top" "$(tr '\n' ';' <"$f")"
done

rec total_s "$(( $(date +%s) - START_TS ))"

# ---------------------------------------------------------------- report
log "writing $OUT"
python3 bench/scaleout_report.py "$RES" "$OUT"
log "done in $(( $(date +%s) - START_TS )) s"
