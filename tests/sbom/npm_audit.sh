#!/bin/sh
# scripts/npm-audit.sh against a stand-in npm (first on PATH): an advisory at or above the level
# fails and is named, one below passes, an unavailable advisory endpoint passes but says NOT
# CHECKED (and fails with GH_NPM_AUDIT_STRICT=1), a missing lockfile fails.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin" "$T/proj"
echo '{"lockfileVersion":3,"packages":{"":{"name":"x"}}}' >"$T/proj/package-lock.json"
fake() {
    printf '#!/bin/sh\n[ "$1" = audit ] || exit 0\ncat <<JSON\n%s\nJSON\nexit %s\n' "$1" "$2" >"$T/bin/npm"
    chmod +x "$T/bin/npm"
}
run() { PATH="$T/bin:$PATH" sh "$ROOT/scripts/npm-audit.sh" "$T/proj" >"$T/out" 2>&1; }
fail() { echo "FAIL: $*"; cat "$T/out"; exit 1; }

fake '{"vulnerabilities":{"evil-pkg":{"severity":"high","range":"<2.0.0","via":[{"url":"https://github.com/advisories/GHSA-xxxx"}]}},"metadata":{"vulnerabilities":{"info":0,"low":0,"moderate":0,"high":1,"critical":0}}}' 1
run && fail "a high advisory passed"
grep -q "evil-pkg <2.0.0 (high)" "$T/out" || fail "the advisory is not named"

fake '{"vulnerabilities":{"meh":{"severity":"low","range":"*","via":["x"]}},"metadata":{"vulnerabilities":{"info":0,"low":1,"moderate":0,"high":0,"critical":0}}}' 1
run || fail "a low advisory failed at level moderate"
grep -q "1 advisories, 0 at or above moderate" "$T/out" || fail "summary"

fake '{"vulnerabilities":{},"metadata":{"vulnerabilities":{"info":0,"low":0,"moderate":0,"high":0,"critical":0}}}' 0
run || fail "a clean audit failed"

fake '{"message":"405 Method Not Allowed - POST https://registry.example/-/npm/v1/security/advisories/bulk"}' 1
run || fail "an unavailable endpoint failed without STRICT"
grep -q "NOT CHECKED" "$T/out" || fail "an unavailable endpoint is not reported"
GH_NPM_AUDIT_STRICT=1 run && fail "an unavailable endpoint passed with STRICT"

rm "$T/proj/package-lock.json"
run && fail "no lockfile passed"
echo "npm-audit: 6 cases pass"
