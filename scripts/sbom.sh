#!/bin/sh
# Writes an SPDX 2.3 JSON software bill of materials for a gatehouse binary (docs/sbom.md):
#  - the binary itself (SHA-256, version from CMakeLists.txt);
#  - every shared library it loads (ldd: the whole closure) as a file with SHA-1/SHA-256,
#    related to (installed by) its Debian package with the package's full Debian version (epoch and
#    revision: the revision carries Debian's backported security fixes), the source package,
#    and a purl (pkg:deb/debian/NAME@VERSION?arch=…&distro=debian-12.x) that trivy and grype
#    match against Debian's security tracker;
#  - Debian itself (OPERATING_SYSTEM), so scanners pick the right advisories;
#  - the npm packages of the browser tests from tests/e2e/package-lock.json, as test
#    dependencies (skipped, with a note, when there is no lockfile).
# Usage: sbom.sh [BINARY] [OUT]       (default build/gatehouse, build/gatehouse.spdx.json)
# SOURCE_DATE_EPOCH fixes the creation time (reproducible output).
set -eu
cd "$(dirname "$0")/.."
BIN=${1:-build/gatehouse}
OUT=${2:-build/gatehouse.spdx.json}
LOCK=tests/e2e/package-lock.json
[ -f "$BIN" ] || { echo "sbom: $BIN: no such file (make build)" >&2; exit 2; }
tsv=$(mktemp)
trap 'rm -f "$tsv"' EXIT
sh scripts/linked-packages.sh "$BIN" >"$tsv"
python3 - "$BIN" "$OUT" "$tsv" "$LOCK" <<'PY'
import datetime, hashlib, json, os, re, sys, urllib.parse

binary, out, tsv, lock = sys.argv[1:5]

def digest(path, algo):
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()

def spdxid(kind, *parts):
    return "SPDXRef-%s-%s" % (kind, re.sub(r"[^A-Za-z0-9.-]", "-", "-".join(parts)))

version = "NOASSERTION"
m = re.search(r"project\(\s*gatehouse\s+VERSION\s+([0-9.]+)", open("CMakeLists.txt").read())
if m:
    version = m.group(1)
debian = open("/etc/debian_version").read().strip()
distro = "debian-%s" % debian
sde = os.environ.get("SOURCE_DATE_EPOCH")
now = datetime.datetime.fromtimestamp(int(sde), datetime.timezone.utc) if sde else \
    datetime.datetime.now(datetime.timezone.utc)
created = now.strftime("%Y-%m-%dT%H:%M:%SZ")
bin_sha256 = digest(binary, "sha256")

NOA = "NOASSERTION"
app_id = "SPDXRef-Package-gatehouse"
os_id = "SPDXRef-OperatingSystem-debian"
packages = [{
    "SPDXID": app_id,
    "name": "gatehouse",
    "versionInfo": version,
    "primaryPackagePurpose": "APPLICATION",
    "downloadLocation": NOA,
    "filesAnalyzed": False,
    "checksums": [{"algorithm": "SHA256", "checksumValue": bin_sha256}],
    "licenseConcluded": NOA,
    "licenseDeclared": NOA,
    "copyrightText": NOA,
    "comment": "the binary %s, built on Debian %s" % (os.path.basename(binary), debian),
}, {
    "SPDXID": os_id,
    "name": "debian",
    "versionInfo": debian,
    "primaryPackagePurpose": "OPERATING_SYSTEM",
    "supplier": "Organization: Debian",
    "downloadLocation": NOA,
    "filesAnalyzed": False,
    "licenseConcluded": NOA,
    "licenseDeclared": NOA,
    "copyrightText": NOA,
}]
files, rels = [], [
    {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
     "relatedSpdxElement": app_id},
    {"spdxElementId": app_id, "relationshipType": "DEPENDS_ON", "relatedSpdxElement": os_id},
]
seen_pkgs = {}
provides = {}
for line in open(tsv):
    soname, path, name, arch, ver, src, srcver = line.rstrip("\n").split("\t")
    pid = spdxid("Package-deb", name, arch)
    if pid not in seen_pkgs:
        qual = "arch=%s&distro=%s" % (arch, distro)
        if src != name:
            qual += "&upstream=%s" % urllib.parse.quote(
                src + ("@" + srcver if srcver != ver else ""), safe="")
        purl = "pkg:deb/debian/%s@%s?%s" % (name, urllib.parse.quote(ver, safe="~"), qual)
        seen_pkgs[pid] = True
        packages.append({
            "SPDXID": pid,
            "name": name,
            "versionInfo": ver,
            "primaryPackagePurpose": "LIBRARY",
            "supplier": "Organization: Debian",
            "downloadLocation": NOA,
            "filesAnalyzed": False,
            "sourceInfo": "built from the Debian source package %s %s" % (src, srcver),
            "licenseConcluded": NOA,
            "licenseDeclared": NOA,
            "copyrightText": NOA,
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                              "referenceLocator": purl}],
        })
        rels.append({"spdxElementId": app_id, "relationshipType": "DEPENDS_ON",
                     "relatedSpdxElement": pid})
    real = os.path.realpath(path)
    fid = spdxid("File", soname)
    files.append({
        "SPDXID": fid,
        "fileName": "." + path,
        "fileTypes": ["BINARY"],
        "checksums": [{"algorithm": "SHA1", "checksumValue": digest(real, "sha1")},
                      {"algorithm": "SHA256", "checksumValue": digest(real, "sha256")}],
        "licenseConcluded": NOA,
        "copyrightText": NOA,
        "comment": "%s, loaded as %s (from %s)" % (real, soname, name),
    })
    # Not CONTAINS: a package with filesAnalyzed false must contain no files (SPDX 2.3, 7.8),
    # and listing every file of every package is not the point. OTHER, with what it means.
    rels.append({"spdxElementId": pid, "relationshipType": "OTHER", "relatedSpdxElement": fid,
                 "comment": "the Debian package installs this library (dpkg-query -S)"})
    provides.setdefault(pid, []).append(soname)
    rels.append({"spdxElementId": app_id, "relationshipType": "DYNAMIC_LINK",
                 "relatedSpdxElement": fid})

for p in packages:
    if p["SPDXID"] in provides:
        p["comment"] = "provides %s to gatehouse" % ", ".join(provides[p["SPDXID"]])

npm_note = "no %s: the npm test dependencies are not listed" % lock
if os.path.exists(lock):
    data = json.load(open(lock))
    entries = data.get("packages")
    if entries is None:  # lockfileVersion 1
        entries = {"node_modules/" + k: v for k, v in data.get("dependencies", {}).items()}
    n = 0
    for key, meta in sorted(entries.items()):
        if not key or "node_modules/" not in key or meta.get("link"):
            continue
        name = key.rsplit("node_modules/", 1)[1]
        ver = meta.get("version", NOA)
        pid = spdxid("Package-npm", name, ver)
        purl = "pkg:npm/%s@%s" % (urllib.parse.quote(name, safe="/"), ver)
        pkg = {
            "SPDXID": pid,
            "name": name,
            "versionInfo": ver,
            "primaryPackagePurpose": "LIBRARY",
            "downloadLocation": meta.get("resolved", NOA),
            "filesAnalyzed": False,
            "licenseConcluded": NOA,
            "licenseDeclared": NOA,
            "copyrightText": NOA,
            "comment": "npm test dependency (tests/e2e), not part of the gatehouse binary",
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                              "referenceLocator": purl}],
        }
        lic = meta.get("license")
        if isinstance(lic, str) and re.fullmatch(r"[A-Za-z0-9.+-]+", lic):
            pkg["licenseDeclared"] = lic
        integ = meta.get("integrity", "")
        if integ.startswith("sha512-"):
            import base64
            pkg["checksums"] = [{"algorithm": "SHA512",
                                 "checksumValue": base64.b64decode(integ[7:]).hex()}]
        packages.append(pkg)
        rels.append({"spdxElementId": pid, "relationshipType": "TEST_DEPENDENCY_OF",
                     "relatedSpdxElement": app_id})
        n += 1
    npm_note = "%d npm test dependencies from %s" % (n, lock)

doc = {
    "spdxVersion": "SPDX-2.3",
    "dataLicense": "CC0-1.0",
    "SPDXID": "SPDXRef-DOCUMENT",
    "name": "gatehouse-%s" % version,
    "documentNamespace": "https://spdx.org/spdxdocs/gatehouse-%s-%s" % (version, bin_sha256[:32]),
    "creationInfo": {
        "created": created,
        "creators": ["Tool: gatehouse-scripts-sbom.sh", "Organization: gatehouse"],
        "comment": "shared libraries from ldd, packages and versions from dpkg-query on "
                   "Debian %s; %s" % (debian, npm_note),
    },
    "packages": packages,
    "files": files,
    "relationships": rels,
}
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
os.replace(tmp, out)
print("sbom: %s: %d Debian packages, %d libraries, %s" % (
    out, len(seen_pkgs), len(files), npm_note))
PY
