#!/bin/sh
# Regenerates the settings table in docs/configuration.md from the binary's settings table.
set -eu
bin=${1:-build/gatehouse}
doc=docs/configuration.md
tmp=$(mktemp)
"$bin" config-docs >"$tmp"
python3 - "$doc" "$tmp" <<'PY'
import sys
doc, table = sys.argv[1], sys.argv[2]
lines = open(doc).read().split("\n")
new = open(table).read().rstrip("\n").split("\n")
out, done = [], False
for l in lines:
    if l.startswith("|"):
        if not done:
            out.extend(new)
            done = True
        continue
    out.append(l)
open(doc, "w").write("\n".join(out))
PY
rm -f "$tmp"
