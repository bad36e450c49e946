#!/bin/sh
# `npm audit` of the browser tests' npm dependencies (tests/e2e), for CI (docs/sbom.md):
#  - the lockfile must exist, and match the installed tree when node_modules is there;
#  - any advisory at or above GH_NPM_AUDIT_LEVEL (default: moderate) fails, naming each one;
#  - when the registry offers no advisory endpoint (a mirror that answers only GET, as on
#    these machines: 405 for npm's POST …/advisories/bulk) the audit cannot run: that is said
#    loudly and passes, unless GH_NPM_AUDIT_STRICT=1 makes it fail.
# Usage: npm-audit.sh [DIR]          (default tests/e2e)
set -eu
cd "$(dirname "$0")/.."
dir=${1:-tests/e2e}
level=${GH_NPM_AUDIT_LEVEL:-moderate}
[ -f "$dir/package-lock.json" ] || { echo "npm-audit: $dir has no package-lock.json" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm-audit: npm not found (make deps-test)" >&2; exit 1; }
if [ -d "$dir/node_modules" ]; then
    (cd "$dir" && npm ls --all >/dev/null) ||
        { echo "npm-audit: node_modules does not match the lockfile (npm ci)" >&2; exit 1; }
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
(cd "$dir" && timeout 120 npm audit --json --audit-level="$level" --package-lock-only) >"$out" 2>/dev/null || rc=$?
python3 - "$out" "$rc" "$level" "${GH_NPM_AUDIT_STRICT:-0}" <<'PY'
import json, sys
path, rc, level, strict = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
order = ["info", "low", "moderate", "high", "critical"]
try:
    data = json.load(open(path))
except ValueError:
    data = {}
meta = data.get("metadata", {}).get("vulnerabilities")
if meta is None:
    why = data.get("message") or data.get("error", {}).get("summary") or \
        ("timed out" if rc == 124 else "no answer (exit %d)" % rc)
    print("npm-audit: NOT CHECKED: the registry's advisory endpoint is unavailable: %s" % why)
    sys.exit(1 if strict else 0)
found = []
for name, v in sorted(data.get("vulnerabilities", {}).items()):
    if order.index(v.get("severity", "info")) >= order.index(level):
        via = [x.get("url", x.get("title", "")) if isinstance(x, dict) else x for x in v.get("via", [])]
        found.append("%s %s (%s): %s" % (name, v.get("range", ""), v.get("severity"), ", ".join(via)))
total = sum(meta.get(k, 0) for k in order)
for f in found:
    print("npm-audit: %s" % f)
print("npm-audit: %d advisories, %d at or above %s" % (total, len(found), level))
sys.exit(1 if found else 0)
PY
