#!/bin/sh
# Browser (e2e) tests of the built-in pages: starts GATEHOUSE_BINARY on a free loopback port with
# a fresh temporary data dir, creates an admin account with `gatehouse users create-admin`, runs
# pages.test.mjs (node:test + playwright-core driving Debian's chromium), stops the server and
# fails on any test failure or on a non-zero server exit (e.g. a sanitizer report).
# Usage: run.sh GATEHOUSE_BINARY OUTPUT_DIR   (screenshots and the server log go to OUTPUT_DIR)
# Needs: node >= 18.19 + npm (`npm ci` runs here when node_modules is missing), /usr/bin/chromium
# (Debian package `chromium`; set GH_E2E_CHROMIUM for another path) and curl.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 GATEHOUSE_BINARY OUTPUT_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
mkdir -p "$2"
OUT=$(cd "$2" && pwd)
CHROMIUM=${GH_E2E_CHROMIUM:-/usr/bin/chromium}

fail() { echo "e2e: $*" >&2; exit 1; }
[ -x "$BIN" ] || fail "no executable at $BIN"
command -v node >/dev/null || fail "node is not installed (make deps-test installs it)"
command -v npm >/dev/null || fail "npm is not installed (make deps-test installs it)"
command -v curl >/dev/null || fail "curl is not installed (make deps-test installs it)"
[ -x "$CHROMIUM" ] || fail "no chromium at $CHROMIUM (apt-get install chromium; make deps-test does)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>18||(a===18&&b>=19)?0:1)' ||
    fail "node $(node --version) is too old: 18.19 or newer is needed"

# playwright-core only (it never downloads a browser); pinned by package-lock.json.
if [ ! -f "$HERE/node_modules/playwright-core/package.json" ]; then
    echo "e2e: npm ci (playwright-core)"
    (cd "$HERE" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) ||
        fail "npm ci failed"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/gh-e2e.XXXXXX")
GH_PID=""
cleanup() {
    if [ -n "$GH_PID" ]; then
        kill "$GH_PID" 2>/dev/null || true
        wait "$GH_PID" 2>/dev/null || true
    fi
    [ -n "${GH_KEEP_TMP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free loopback port (the public URL must name it, so port 0 won't do).
PORT=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
URL="http://127.0.0.1:$PORT"

# The server's environment: none of a developer's own GATEHOUSE_* settings, then the test ones
# (development mode on loopback; fast hashing and raised rate limits, as the integration tests).
for v in $(env | sed -n 's/^\(GATEHOUSE_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
mkdir -m 700 "$T/var"
export GATEHOUSE_ENV=development
export GATEHOUSE_LISTEN="127.0.0.1:$PORT"
export GATEHOUSE_PUBLIC_URL="$URL"
export GATEHOUSE_DATA_DIR="$T/var"
export GATEHOUSE_DATABASE_URL="sqlite:$T/var/gh.db"
export GATEHOUSE_TEST_INSECURE_FAST_HASH=1
export GATEHOUSE_LOG_LEVEL=debug
for rule in API LOGIN REGISTER REFRESH PASSWORD; do
    export "GATEHOUSE_RATELIMIT_${rule}_PER_MIN=60000000"
    export "GATEHOUSE_RATELIMIT_${rule}_BURST=1000000"
done

rm -f "$OUT"/*.png "$OUT/server.log"
(cd "$T" && exec "$BIN" serve) 2>"$OUT/server.log" >/dev/null &
GH_PID=$!
up=0
for _ in $(seq 1 200); do
    if ! kill -0 "$GH_PID" 2>/dev/null; then
        tail -20 "$OUT/server.log" >&2
        GH_PID=""
        fail "gatehouse exited at start-up"
    fi
    if curl -fs -o /dev/null "$URL/healthz" 2>/dev/null; then
        up=1
        break
    fi
    sleep 0.1
done
[ "$up" -eq 1 ] || fail "gatehouse did not answer on $URL within 20 s"

ADMIN_EMAIL="e2e-admin@example.com"
ADMIN_PASSWORD="e2e admin passphrase $(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
printf '%s\n' "$ADMIN_PASSWORD" | "$BIN" users create-admin "$ADMIN_EMAIL" >"$T/admin-id" 2>"$T/admin.err" ||
    { cat "$T/admin.err" >&2; fail "gatehouse users create-admin failed"; }

status=0
GH_E2E_URL=$URL GH_E2E_OUT=$OUT GH_E2E_CHROMIUM=$CHROMIUM \
GH_E2E_ADMIN_EMAIL=$ADMIN_EMAIL GH_E2E_ADMIN_PASSWORD=$ADMIN_PASSWORD \
    timeout --kill-after=10 600 node --test --test-reporter=spec "$HERE/pages.test.mjs" || status=$?

# Stop the server; a non-zero exit after SIGTERM (a sanitizer report, a crash) is a failure too.
kill -TERM "$GH_PID" 2>/dev/null || true
server_status=0
wait "$GH_PID" || server_status=$?
GH_PID=""
if [ "$server_status" -ne 0 ]; then
    tail -40 "$OUT/server.log" >&2
    echo "e2e: gatehouse exited with status $server_status after SIGTERM" >&2
    [ "$status" -ne 0 ] || status=1
fi
if [ "$status" -ne 0 ]; then
    echo "e2e: FAILED (screenshots and server.log in $OUT)" >&2
    exit "$status"
fi
echo "e2e: passed (screenshots in $OUT)"
