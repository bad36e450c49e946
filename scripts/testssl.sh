#!/bin/sh
# Run Debian's testssl.sh against gatehouse's native TLS on loopback and fail on any weak
# protocol or cipher. Usage: scripts/testssl.sh [BINARY] [REPORT]
#   BINARY  the gatehouse to test (default build/gatehouse)
#   REPORT  where to write testssl's plain-text output (default docs/testssl-report.txt)
set -eu
BIN=${1:-build/gatehouse}
REPORT=${2:-docs/testssl-report.txt}
T=$(mktemp -d /tmp/gh-testssl-XXXXXX)
PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
command -v testssl >/dev/null || { echo "testssl (Debian package testssl.sh) is missing"; exit 1; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/key.pem" \
    -out "$T/cert.pem" -days 2 -subj /CN=localhost >/dev/null 2>&1
P=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
mkdir -m 700 "$T/data"
env -i PATH="$PATH" GATEHOUSE_DATA_DIR="$T/data" GATEHOUSE_LISTEN="127.0.0.1:$P" \
    GATEHOUSE_TLS_CERT_PATH="$T/cert.pem" GATEHOUSE_TLS_KEY_PATH="$T/key.pem" \
    "$BIN" serve >"$T/log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
    curl -ksf "https://127.0.0.1:$P/healthz" >/dev/null 2>&1 && break
    sleep 0.05
done
# Protocols, cipher categories, forward secrecy, server preferences, vulnerabilities.
# --sneaky/--warnings batch: no prompts; --ip one: loopback only.
testssl --quiet --color 0 --warnings batch --ip one --protocols --std --fs --server-preference \
    --vulnerable --headers "https://127.0.0.1:$P/healthz" >"$T/out" 2>&1 || true
sed 's/[[:space:]]*$//' "$T/out" >"$REPORT"
fail=0
# Protocols other than TLS 1.2/1.3 must be "not offered".
for proto in 'SSLv2' 'SSLv3' 'TLS 1 ' 'TLS 1.1'; do
    line=$(grep -E "^ *$proto" "$REPORT" | head -1)
    case "$line" in
    *"not offered"*) ;;
    *) echo "weak protocol offered or not tested: $line"; fail=1 ;;
    esac
done
grep -qE '^ *TLS 1.2 +offered' "$REPORT" || { echo "TLS 1.2 not offered"; fail=1; }
grep -qE '^ *TLS 1.3 +offered' "$REPORT" || { echo "TLS 1.3 not offered"; fail=1; }
# Weak cipher categories must be "not offered".
for cat in 'NULL ciphers' 'Anonymous NULL' 'Export ciphers' 'LOW: 64 Bit' 'Triple DES' \
    'Obsolete CBC'; do
    line=$(grep -E "^ *$cat" "$REPORT" | head -1)
    case "$line" in
    *"not offered"*) ;;
    *) echo "weak cipher category: $line"; fail=1 ;;
    esac
done
# No vulnerability reported (testssl says "VULNERABLE" or "NOT ok"). One exception, checked
# here instead: testssl 3.0.8's client-initiated renegotiation probe is timing-dependent against
# a server that answers a renegotiation by closing the connection (libmicrohttpd does) — it
# says "not vulnerable" on one run and "VULNERABLE" on the next. The deterministic check: ask
# to renegotiate, then send a request on the same connection; it must never be answered.
if grep -E 'VULNERABLE|NOT ok' "$REPORT" | grep -v 'not vulnerable' |
    grep -v 'Secure Client-Initiated Renegotiation'; then
    echo "testssl reports a vulnerability (above)"
    fail=1
fi
reneg=$( (printf 'R\n'; sleep 2; printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n'; sleep 2) |
    timeout 20 openssl s_client -tls1_2 -connect "127.0.0.1:$P" 2>&1 || true)
case "$reneg" in
*RENEGOTIATING*) ;;
*) echo "renegotiation check: the request to renegotiate was not sent"; fail=1 ;;
esac
if printf '%s' "$reneg" | grep -q 'HTTP/1.1 200'; then
    echo "client-initiated renegotiation was accepted (the connection went on)"
    fail=1
else
    echo "client-initiated renegotiation: refused (connection closed)" >>"$REPORT"
fi
kill "$PID"
wait "$PID" || true
PID=""
[ "$fail" = 0 ] && echo "testssl: no weak protocol, cipher or vulnerability (report: $REPORT)"
exit "$fail"
