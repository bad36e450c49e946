#!/bin/sh
# The wall clock jumped forward and back under libfaketime (Debian package faketime): expired
# tokens stay expired, lockouts are not reset, locks still end by themselves. The RELEASE build
# (sandbox on — libfaketime's file reads are allowed by the filter).
# Usage: clock.sh RELEASE_BINARY
set -eu
export PYTHONDONTWRITEBYTECODE=1 # nothing written into the source tree
[ $# -eq 1 ] || { echo "usage: $0 BINARY" >&2; exit 2; }
BIN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/gh-fault-clock-XXXXXX)
cleanup() {
    umount "$T/mnt" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
python3 "$HERE/clock.py" "$BIN" "$T"
