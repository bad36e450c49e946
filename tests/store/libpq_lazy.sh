#!/bin/sh
# libpq is dlopen()ed only when a PostgreSQL URL is used (src/store/pq_dl.h): a SQLite
# deployment never maps it or its closure (libssl, libcrypto, Kerberos, LDAP); with
# GH_TEST_PG_URL set, a PostgreSQL deployment does map it and serves.
#   libpq_lazy.sh BINARY
set -eu
bin=$1
dir=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
port_of() { # LOG: the port from the "listening" line
    i=0
    while [ $i -lt 200 ]; do
        p=$(sed -n 's/.*"event":"listening".*"port":\([0-9]*\).*/\1/p' "$1" | head -1)
        [ -n "$p" ] && { echo "$p"; return 0; }
        kill -0 "$pid" 2>/dev/null || { cat "$1" >&2; return 1; }
        sleep 0.05; i=$((i + 1))
    done
    return 1
}
check() { # NAME WANT(yes|no) [ENV...]
    name=$1; want=$2; shift 2
    mkdir -p "$dir/$name"
    env GATEHOUSE_DATA_DIR="$dir/$name" GATEHOUSE_LISTEN=127.0.0.1:0 "$@" "$bin" serve \
        2>"$dir/$name.log" &
    pid=$!
    port=$(port_of "$dir/$name.log") || { echo "FAIL $name: did not start"; sed "s/postgres[^ ]*@/<url>@/g" "$dir/$name.log" | tail -5; exit 1; }
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")
    [ "$code" = 200 ] || { echo "FAIL $name: /readyz $code"; exit 1; }
    if grep -q 'libpq\.so' "/proc/$pid/maps"; then got=yes; else got=no; fi
    [ "$got" = "$want" ] || { echo "FAIL $name: libpq mapped: $got, want $want"; exit 1; }
    for lib in libssl libcrypto libkrb5 libldap; do
        if [ "$want" = no ] && grep -q "/$lib" "/proc/$pid/maps"; then
            echo "FAIL $name: $lib mapped without PostgreSQL"; exit 1
        fi
    done
    echo "ok   $name: libpq mapped: $got"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}
check sqlite no
if [ -n "${GH_TEST_PG_URL:-}" ]; then
    # A fresh database: the test cluster's own one holds keys wrapped under other master keys.
    db=gh_lazy_$$
    base=${GH_TEST_PG_URL%%\?*}
    psql -q "$GH_TEST_PG_URL" -c "CREATE DATABASE $db" >/dev/null
    trap 'cleanup; psql -q "$GH_TEST_PG_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1' EXIT
    check postgresql yes GATEHOUSE_DATABASE_URL="${base%/*}/$db"
else
    echo "skip postgresql: GH_TEST_PG_URL not set"
fi
