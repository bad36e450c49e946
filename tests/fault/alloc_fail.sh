#!/bin/sh
# Allocation failure injected at every allocation of a request (gatehouse's own, jansson's,
# SQLite's) → 503 or a whole success, the process lives on, the next request works; a clean exit
# after it all (under ASan: no leak on any error path). Runs on either build (ASan recommended).
# Usage: alloc_fail.sh BINARY
set -eu
export PYTHONDONTWRITEBYTECODE=1 # nothing written into the source tree
[ $# -eq 1 ] || { echo "usage: $0 BINARY" >&2; exit 2; }
BIN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/gh-fault-alloc_fail-XXXXXX)
cleanup() {
    umount "$T/mnt" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
python3 "$HERE/alloc_fail.py" "$BIN" "$T"
