# Shared by the forward-auth proxy tests: start gatehouse and a tiny upstream on loopback
# ports, then (after the caller has started its proxy on $NG with PROXY_LOG as its log) run the
# same checks through the proxy. Sourced with $BIN set and $T a fresh temporary directory.
GH_PID="" UP_PID="" NG_PID=""
cleanup() {
    for p in $NG_PID $UP_PID $GH_PID; do kill "$p" 2>/dev/null || true; done
    for p in $NG_PID $UP_PID $GH_PID; do wait "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
GH=$(port) UP=$(port) NG=$(port)

# gatehouse
GATEHOUSE_DATA_DIR=$T/var GATEHOUSE_LISTEN=127.0.0.1:$GH GATEHOUSE_TEST_INSECURE_FAST_HASH=1 \
    "$BIN" serve 2>"$T/gh.log" &
GH_PID=$!
# the upstream app: echoes the identity header it received
cat >"$T/up.py" <<'PY'
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"user": self.headers.get("X-Auth-User-Id"),
                           "session": self.headers.get("X-Auth-Session-Id")}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$T/up.py" "$UP" &
UP_PID=$!

run_checks() {
    for i in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$GH/healthz" >/dev/null 2>&1 && curl -s -o /dev/null "http://127.0.0.1:$NG/" 2>/dev/null && break
        sleep 0.1
    done

    fail() { echo "FAIL: $*"; tail -5 "$PROXY_LOG" 2>/dev/null; exit 1; }
    code() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }

    [ "$(code "http://127.0.0.1:$NG/app")" = 401 ] || fail "no token should be 401"
    [ "$(code -H 'X-Auth-User-Id: admin' "http://127.0.0.1:$NG/app")" = 401 ] ||
        fail "a client's own X-Auth-User-Id without a token should be 401"

    curl -s -o /dev/null "http://127.0.0.1:$GH/v1/users" -H 'Content-Type: application/json' \
        -d '{"email":"proxied@example.com","password":"proxied passphrase lantern"}'
    AT=$(curl -s "http://127.0.0.1:$GH/v1/token" -H 'Content-Type: application/json' \
        -d '{"email":"proxied@example.com","password":"proxied passphrase lantern"}' |
        python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
    SUB=$(python3 -c 'import base64,json,sys;p=sys.argv[1].split(".")[1];print(json.loads(base64.urlsafe_b64decode(p+"==="))["sub"])' "$AT")

    [ "$(code -H "Authorization: Bearer $AT" "http://127.0.0.1:$NG/app")" = 200 ] || fail "valid token should pass"
    python3 -c 'import json,sys;d=json.load(open(sys.argv[1]));assert d["user"]==sys.argv[2],d' "$T/body" "$SUB" ||
        fail "upstream did not see the user id"
    # A forged identity header next to a valid token is overwritten by nginx.
    [ "$(code -H "Authorization: Bearer $AT" -H 'X-Auth-User-Id: admin' "http://127.0.0.1:$NG/app")" = 200 ] ||
        fail "valid token with forged header should pass"
    python3 -c 'import json,sys;d=json.load(open(sys.argv[1]));assert d["user"]==sys.argv[2],d' "$T/body" "$SUB" ||
        fail "a forged X-Auth-User-Id reached the upstream"

    [ "$(code -X POST -H "Authorization: Bearer $AT" "http://127.0.0.1:$GH/v1/logout")" = 204 ] || fail "logout"
    [ "$(code -H "Authorization: Bearer $AT" "http://127.0.0.1:$NG/app")" = 401 ] || fail "after logout should be 401"

    # A browser: signs in on gatehouse (cookie mode), then its session cookie alone passes the
    # proxy; the upstream sees the user; after sign-out the same cookie is refused.
    JAR="$T/jar"
    [ "$(code -c "$JAR" -H 'X-CSRF-Token: 1' -H "Origin: http://127.0.0.1:$GH"         -H 'Content-Type: application/json'         -d '{"email":"proxied@example.com","password":"proxied passphrase lantern"}'         "http://127.0.0.1:$GH/v1/session")" = 200 ] || fail "cookie sign-in"
    CSRF=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["csrf_token"])' "$T/body")
    grep -q 'gh_session' "$JAR" || fail "no session cookie was set"
    [ "$(code -b "$JAR" "http://127.0.0.1:$NG/app")" = 200 ] || fail "session cookie should pass"
    python3 -c 'import json,sys;d=json.load(open(sys.argv[1]));assert d["user"]==sys.argv[2],d' "$T/body" "$SUB" ||
        fail "upstream did not see the cookie user's id"
    [ "$(code -b "$JAR" -H 'X-Auth-User-Id: admin' "http://127.0.0.1:$NG/app")" = 200 ] || fail "cookie + forged header"
    python3 -c 'import json,sys;d=json.load(open(sys.argv[1]));assert d["user"]==sys.argv[2],d' "$T/body" "$SUB" ||
        fail "a forged X-Auth-User-Id reached the upstream next to a cookie"
    cp "$JAR" "$T/jar.before"
    [ "$(code -b "$JAR" -X DELETE -H "X-CSRF-Token: $CSRF" -H "Origin: http://127.0.0.1:$GH"         "http://127.0.0.1:$GH/v1/session")" = 204 ] || fail "cookie sign-out"
    # The old cookie (as a client that ignored the expiry would keep it) is refused.
    [ "$(code -b "$T/jar.before" "http://127.0.0.1:$NG/app")" = 401 ] || fail "after sign-out the cookie should be 401"
    echo "$PROXY_NAME forward-auth: 9 checks passed"
}
