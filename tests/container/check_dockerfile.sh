#!/bin/sh
# Static checks of the container build (no Docker engine needed; scripts/container-proof.sh runs
# the runtime stage for real). The Dockerfile must be multi-stage on Debian 12, its runtime stage
# install only scripts/runtime-packages.txt (no -dev package, no curl/wget) and clean apt's
# lists, run as a numeric non-root USER, declare a VOLUME, a HEALTHCHECK and an exec-form
# ENTRYPOINT, and carry no secret (no ARG/ENV naming one, no whole-context COPY); .dockerignore
# must be an allowlist that also refuses keys and .env files.
# Usage: check_dockerfile.sh [DOCKERFILE [DOCKERIGNORE]]      → exit 0 when all hold
#        check_dockerfile.sh --self-test   → the planted bad.Dockerfile must fail every rule
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

check() {
    df=$1 di=$2 bad=0
    flag() { echo "dockerfile: $*"; bad=$((bad + 1)); }
    [ -f "$df" ] || { echo "dockerfile: $df missing"; return 1; }
    # joined continuation lines, comments dropped
    flat=$(sed -e 's/^[[:space:]]*#.*//' "$df" | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta')
    nfrom=$(printf '%s\n' "$flat" | grep -ci '^FROM ' || true)
    [ "$nfrom" -ge 2 ] || flag "not multi-stage ($nfrom FROM)"
    printf '%s\n' "$flat" | grep -Eqi '^ARG DEBIAN=debian:12-slim|^FROM debian:12-slim' ||
        flag "base image is not debian:12-slim"
    runtime=$(printf '%s\n' "$flat" | awk 'toupper($1) == "FROM" { s = "" } { s = s $0 "\n" } END { printf "%s", s }')
    printf '%s\n' "$runtime" | grep -q 'runtime-packages.txt' ||
        flag "runtime stage does not install scripts/runtime-packages.txt"
    printf '%s\n' "$runtime" | grep -q -- '--no-install-recommends' ||
        flag "runtime stage installs recommended packages"
    printf '%s\n' "$runtime" | grep -Eq '(^|[[:space:]])[a-z0-9.+-]+-dev([[:space:]]|$)' &&
        flag "runtime stage installs a -dev package"
    printf '%s\n' "$runtime" | grep -Eiq 'apt-get install[^&;]*[[:space:]](curl|wget)([[:space:]]|$)' &&
        flag "runtime stage installs curl or wget"
    printf '%s\n' "$runtime" | grep -q 'rm -rf /var/lib/apt/lists' ||
        flag "runtime stage keeps apt's package lists"
    user=$(printf '%s\n' "$runtime" | grep -i '^USER ' | tail -1 | awk '{print $2}')
    printf '%s\n' "$user" | grep -Eq '^[1-9][0-9]*(:[1-9][0-9]*)?$' ||
        flag "runtime USER '$user' is not a numeric non-root uid[:gid]"
    printf '%s\n' "$runtime" | grep -qi '^VOLUME ' || flag "no VOLUME for the data"
    printf '%s\n' "$runtime" | grep -Eqi '^HEALTHCHECK .*CMD ' || flag "no HEALTHCHECK"
    printf '%s\n' "$runtime" | grep -Eqi '^ENTRYPOINT \[' || flag "ENTRYPOINT is not exec form"
    secrets=$(printf '%s\n' "$flat" | grep -Ei '^(ARG|ENV) ' |
        grep -Eo '[A-Za-z_]*(KEY|SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL)[A-Za-z_]*=' | grep -v '_FILE=' || true)
    [ -z "$secrets" ] || flag "an ARG or ENV carries a secret: $secrets"
    printf '%s\n' "$flat" | grep -Eiq '^(COPY|ADD) (--[^ ]+ )*\.{1,2}/? ' && flag "COPY of the whole build context"
    printf '%s\n' "$flat" | grep -Eiq '^(COPY|ADD) .*(\.key|\.pem|\.env|master)' && flag "COPY of a key or .env"
    if [ -f "$di" ]; then
        first=$(grep -v '^[[:space:]]*#' "$di" | sed '/^[[:space:]]*$/d' | head -1)
        [ "$first" = "*" ] || flag ".dockerignore is not an allowlist (first rule '$first', not '*')"
        grep -v '^[[:space:]]*#' "$di" | grep -q '\.env' || flag ".dockerignore does not refuse .env"
        grep -v '^[[:space:]]*#' "$di" | grep -q '\*\.key' || flag ".dockerignore does not refuse *.key"
    else
        flag "no .dockerignore"
    fi
    [ "$bad" -eq 0 ] && echo "dockerfile: $df passes ($nfrom stages, USER $user)"
    return "$bad"
}

if [ "${1:-}" = "--self-test" ]; then
    n=0
    check "$here/bad.Dockerfile" "$here/bad.dockerignore" || n=$?
    # it breaks every one of the 17 rules
    if [ "$n" -lt 17 ]; then
        echo "dockerfile self-test FAILED: the planted file broke only $n rules"
        exit 1
    fi
    echo "dockerfile self-test: the planted file is flagged ($n findings)"
    exit 0
fi
check "${1:-$root/Dockerfile}" "${2:-$root/.dockerignore}"
