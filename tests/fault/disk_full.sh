#!/bin/sh
# The database on a full disk (a 16 MiB tmpfs; needs root to mount — fails, never skips, when it
# cannot): writes get 503, reads go on, nothing acknowledged is lost, a 503 means not done, and
# writes recover without a restart. The RELEASE build (sandbox on).
# Usage: disk_full.sh RELEASE_BINARY
set -eu
export PYTHONDONTWRITEBYTECODE=1 # nothing written into the source tree
[ $# -eq 1 ] || { echo "usage: $0 BINARY" >&2; exit 2; }
BIN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/gh-fault-disk_full-XXXXXX)
cleanup() {
    umount "$T/mnt" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
python3 "$HERE/disk_full.py" "$BIN" "$T"
