#!/bin/sh
# kill -9 at random moments during a concurrent mixed load, 30 rounds: after each restart every
# acknowledged registration, rotation and revocation holds, rotated-away refresh tokens stay dead
# and `gatehouse audit verify` passes; then a self-test proves the checks catch lost commits.
# The RELEASE build (sandbox on).
# Usage: kill9.sh RELEASE_BINARY
set -eu
export PYTHONDONTWRITEBYTECODE=1 # nothing written into the source tree
[ $# -eq 1 ] || { echo "usage: $0 BINARY" >&2; exit 2; }
BIN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/gh-fault-kill9-XXXXXX)
cleanup() {
    umount "$T/mnt" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
python3 "$HERE/kill9.py" "$BIN" "$T/run" 30
mkdir "$T/self-test"
python3 "$HERE/kill9.py" "$BIN" "$T/self-test" --self-test
