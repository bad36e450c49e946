#!/bin/sh
# A throw-away PostgreSQL cluster on loopback for the store contract suite (CI and developers).
#   eval "$(sh scripts/pg-test-cluster.sh start)"   # prints: export GH_TEST_PG_URL=...
#   sh scripts/pg-test-cluster.sh stop               # stops it and deletes its files
#   sh scripts/pg-test-cluster.sh url                # prints the URL of a running one
# Runs the server as an unprivileged user (the `postgres` system user when started as root),
# listening on 127.0.0.1 only, with a socket directory inside its own data directory. Trust
# authentication: only for a disposable test cluster, never for a real one.
# Settings: GH_PG_DIR (default /tmp/gatehouse-pg), GH_PG_PORT (55432), GH_PG_DB (gatehouse_test).
# Needs Debian's `postgresql` package (initdb, pg_ctl under /usr/lib/postgresql/N/bin).
set -eu
dir=${GH_PG_DIR:-/tmp/gatehouse-pg}
port=${GH_PG_PORT:-55432}
db=${GH_PG_DB:-gatehouse_test}
data=$dir/data
sock=$dir/sock

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bindir" ] && [ -x "$bindir/initdb" ] || {
    echo "pg-test-cluster: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
    exit 1
}

# Run a command as the cluster's owner.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# The cluster's superuser: the account that runs it.
pguser=postgres
[ "$(id -u)" -eq 0 ] || pguser=$(id -un)

url() {
    echo "postgresql://$pguser@127.0.0.1:$port/$db"
}

running() {
    [ -f "$data/PG_VERSION" ] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

case "${1:-}" in
start)
    if ! running; then
        rm -rf "$dir"
        mkdir -p "$data" "$sock"
        chmod 700 "$dir"
        [ "$(id -u)" -ne 0 ] || chown -R postgres:postgres "$dir"
        as_owner "$bindir/initdb" -D "$data" -A trust -E UTF8 --locale=C.UTF-8 -U "$pguser" \
            >"$dir/initdb.log" 2>&1 || {
            cat "$dir/initdb.log" >&2
            exit 1
        }
        as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $sock -c max_connections=400" \
            start >&2 || {
            cat "$dir/server.log" >&2
            exit 1
        }
        as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U "$pguser" "$db"
    fi
    echo "export GH_TEST_PG_URL=$(url)"
    ;;
stop)
    if running; then
        as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >&2
    fi
    rm -rf "$dir"
    ;;
url)
    running || { echo "pg-test-cluster: not running" >&2; exit 1; }
    url
    ;;
*)
    echo "usage: pg-test-cluster.sh start|stop|url" >&2
    exit 2
    ;;
esac
