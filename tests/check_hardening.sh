#!/bin/sh
# Checks a built binary for the hardening the release build asks for: PIE, full RELRO
# (GNU_RELRO + BIND_NOW), a non-executable stack (NX), stack canaries and FORTIFY_SOURCE.
# Usage: check_hardening.sh BINARY            → exit 0 when all hold
#        check_hardening.sh --self-test       → proves the check fails on an unhardened binary
set -eu

check() {
    bin=$1 bad=0
    [ -f "$bin" ] || { echo "hardening: $bin does not exist"; return 1; }
    if ! readelf -h "$bin" | grep -q 'Type:[[:space:]]*DYN'; then echo "hardening: not PIE"; bad=1; fi
    if ! readelf -l "$bin" | grep -q 'GNU_RELRO'; then echo "hardening: no RELRO segment"; bad=1; fi
    if ! readelf -d "$bin" | grep -Eq 'BIND_NOW|FLAGS.*NOW'; then echo "hardening: no BIND_NOW (partial RELRO only)"; bad=1; fi
    if readelf -lW "$bin" | grep 'GNU_STACK' | grep -q 'RWE'; then echo "hardening: executable stack"; bad=1; fi
    if ! readelf -lW "$bin" | grep -q 'GNU_STACK'; then echo "hardening: no GNU_STACK header (stack may be executable)"; bad=1; fi
    if ! readelf -sW --dyn-syms "$bin" | grep -q '__stack_chk_fail'; then echo "hardening: no stack canaries"; bad=1; fi
    if ! readelf -sW --dyn-syms "$bin" | grep -Eq '__[a-z]+_chk'; then echo "hardening: no FORTIFY_SOURCE checks"; bad=1; fi
    return $bad
}

if [ "${1:-}" = "--self-test" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    printf '#include <stdio.h>\n#include <string.h>\nint main(int c,char**v){char b[64];strcpy(b,v[0]);puts(b);return c;}\n' >"$tmp/weak.c"
    cc -O0 -no-pie -fno-stack-protector -U_FORTIFY_SOURCE -Wl,-z,norelro -Wl,-z,lazy -z execstack \
        -o "$tmp/weak" "$tmp/weak.c" 2>/dev/null
    if check "$tmp/weak" >/dev/null; then
        echo "hardening self-test FAILED: an unhardened binary passed the check"
        exit 1
    fi
    echo "hardening self-test: the check rejects an unhardened binary"
    exit 0
fi
check "$1"
echo "hardening: PIE, full RELRO, NX stack, canaries and FORTIFY present in $1"
