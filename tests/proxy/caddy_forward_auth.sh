#!/bin/sh
# Real Caddy (Debian package) with forward_auth in front of a tiny upstream, gatehouse as the
# forward-auth service — all on loopback. Proves: no token → 401; a valid token → the upstream
# sees X-Auth-User-Id; a client's own X-Auth-User-Id never reaches the upstream; after logout →
# 401 again. Usage: caddy_forward_auth.sh GATEHOUSE_BINARY
set -eu
BIN=$1
command -v caddy >/dev/null || { echo "caddy is not installed (make deps-test)"; exit 1; }
T=$(mktemp -d /tmp/gh-caddy.XXXXXX)
. "$(dirname "$0")/common.sh"

# Caddy: the configuration docs/integrations.md shows
cat >"$T/Caddyfile" <<CONF
{
    admin off
    auto_https off
    storage file_system $T/caddy
}
http://127.0.0.1:$NG {
    forward_auth 127.0.0.1:$GH {
        uri /v1/auth/check
        copy_headers X-Auth-User-Id X-Auth-Session-Id
    }
    reverse_proxy 127.0.0.1:$UP
}
CONF
HOME=$T XDG_DATA_HOME=$T XDG_CONFIG_HOME=$T caddy run --config "$T/Caddyfile" --adapter caddyfile \
    >"$T/caddy.log" 2>&1 &
NG_PID=$!
PROXY_NAME=caddy
PROXY_LOG="$T/caddy.log"
run_checks
