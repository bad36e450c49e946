#!/bin/sh
# Real nginx (Debian package) with auth_request in front of a tiny upstream, gatehouse as the
# forward-auth service — all on loopback. Proves: no token → 401; a valid token → the upstream
# sees X-Auth-User-Id; a client's own X-Auth-User-Id never reaches the upstream; after logout →
# 401 again. Usage: nginx_forward_auth.sh GATEHOUSE_BINARY
set -eu
BIN=$1
command -v nginx >/dev/null || { echo "nginx is not installed (make deps-test)"; exit 1; }
T=$(mktemp -d /tmp/gh-nginx.XXXXXX)
. "$(dirname "$0")/common.sh"

# nginx: the configuration docs/integrations.md shows
mkdir -p "$T/nginx"
cat >"$T/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $T/nginx/body; proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fcgi; uwsgi_temp_path $T/nginx/uwsgi; scgi_temp_path $T/nginx/scgi;
    server {
        listen 127.0.0.1:$NG;
        location / {
            auth_request /_gatehouse_check;
            auth_request_set \$gh_user \$upstream_http_x_auth_user_id;
            auth_request_set \$gh_session \$upstream_http_x_auth_session_id;
            proxy_set_header X-Auth-User-Id \$gh_user;
            proxy_set_header X-Auth-Session-Id \$gh_session;
            proxy_pass http://127.0.0.1:$UP;
        }
        location = /_gatehouse_check {
            internal;
            proxy_pass http://127.0.0.1:$GH/v1/auth/check;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Authorization \$http_authorization;
        }
    }
}
CONF
nginx -c "$T/nginx/nginx.conf" -p "$T/nginx" &
NG_PID=$!
PROXY_NAME=nginx
PROXY_LOG="$T/nginx/error.log"
run_checks
