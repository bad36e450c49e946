#!/bin/sh
# `make sbom`'s generator, checked: scripts/sbom.sh on the given binary must write valid SPDX 2.3
# listing every library ldd resolves with the package and version dpkg reports
# (tests/sbom/check_sbom.py), and the check must flag each of its planted breakages.
# Usage: sbom.sh BINARY
set -eu
BIN=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
sh "$ROOT/scripts/sbom.sh" "$BIN" "$T/sbom.spdx.json"
python3 "$ROOT/tests/sbom/check_sbom.py" "$T/sbom.spdx.json" "$BIN" "$ROOT/tests/e2e/package-lock.json"
python3 "$ROOT/tests/sbom/check_sbom.py" --self-test "$T/sbom.spdx.json" "$BIN" "$ROOT/tests/e2e/package-lock.json"
# Without a lockfile the npm part is left out, and says so.
mkdir "$T/tree" && cp -r "$ROOT/scripts" "$ROOT/CMakeLists.txt" "$T/tree/"
sh "$T/tree/scripts/sbom.sh" "$BIN" "$T/nolock.json" | grep -q "no tests/e2e/package-lock.json"
python3 "$ROOT/tests/sbom/check_sbom.py" "$T/nolock.json" "$BIN"
echo "sbom: PASS"
