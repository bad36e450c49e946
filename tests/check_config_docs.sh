#!/bin/sh
# Fails when docs/configuration.md's settings table differs from `gatehouse config-docs`.
set -eu
bin=$1 doc=$2
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
grep '^|' "$doc" >"$tmp"
"$bin" config-docs | diff -u "$tmp" - || { echo "docs/configuration.md is out of date: run scripts/config-docs.sh"; exit 1; }
echo "configuration docs in sync"
