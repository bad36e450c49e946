#!/bin/sh
# scripts/runtime-packages.txt (what the container's runtime stage installs) must be exactly the
# Debian packages the binary's shared libraries come from — and the check must catch a list
# that lacks one (the image would not start) or names one nothing loads (drift).
# Usage: runtime_packages.sh BINARY
set -eu
BIN=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LIST=$ROOT/scripts/runtime-packages.txt
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
sh "$ROOT/scripts/linked-packages.sh" --check "$LIST" "$BIN"
first=$(sed 's/#.*//' "$LIST" | sed '/^[[:space:]]*$/d' | head -1)
sed "/^$first\$/d" "$LIST" >"$T/lacking"
if sh "$ROOT/scripts/linked-packages.sh" --check "$T/lacking" "$BIN" 2>"$T/err"; then
    echo "FAIL: a list without $first passed"; exit 1
fi
grep -q "lacks.*$first" "$T/err" || { echo "FAIL: the missing $first is not named"; cat "$T/err"; exit 1; }
{ cat "$LIST"; echo "gatehouse-unused-package"; } >"$T/extra"
if sh "$ROOT/scripts/linked-packages.sh" --check "$T/extra" "$BIN" 2>"$T/err"; then
    echo "FAIL: a list with an unused package passed"; exit 1
fi
grep -q "gatehouse-unused-package" "$T/err" || { echo "FAIL: the extra package is not named"; exit 1; }
echo "runtime packages: the list matches, and a missing or an extra package is caught"
