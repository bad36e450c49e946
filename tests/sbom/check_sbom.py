#!/usr/bin/env python3
"""Checks scripts/sbom.sh's output (docs/sbom.md).

Usage: check_sbom.py SBOM.json BINARY [LOCKFILE]
       check_sbom.py --self-test SBOM.json BINARY [LOCKFILE]

1. Structure: SPDX 2.3 JSON as its schema has it (required fields, no unknown fields, the
   enumerations), plus the rules the schema cannot say: unique SPDXIDs of the allowed form,
   every relationship naming elements that exist, the document DESCRIBES something, ISO 8601
   UTC dates, lower-case hex checksums of the right length, SHA1 on every file, a namespace URI
   without '#', purls of the form pkg:TYPE/..., no files CONTAINED in a package whose files were
   not analysed.
2. Content, checked independently of sbom.sh: every library `ldd BINARY` resolves is a file
   entry whose SHA-256 matches the file on disk, the Debian package dpkg-query -S names for it
   is a package with exactly the version dpkg-query -W reports, and the binary's SHA-256 is
   the application's; every npm package in the lockfile is there with its version.
--self-test: each of a list of breakages of a valid document must be reported (the check can
fail).
"""
import copy
import functools
import hashlib
import json
import os
import re
import subprocess
import sys

ID_RE = re.compile(r"^SPDXRef-[A-Za-z0-9.\-]+$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
HEX_LEN = {"SHA1": 40, "SHA256": 64, "SHA512": 128, "SHA224": 56, "SHA384": 96, "MD5": 32}
ALGOS = {"SHA1", "BLAKE3", "SHA3-384", "SHA256", "SHA384", "BLAKE2b-512", "BLAKE2b-256",
         "SHA3-512", "MD2", "ADLER32", "MD4", "SHA3-256", "BLAKE2b-384", "SHA512", "MD6", "MD5",
         "SHA224"}
PURPOSES = {"OTHER", "INSTALL", "ARCHIVE", "FIRMWARE", "APPLICATION", "FRAMEWORK", "LIBRARY",
            "CONTAINER", "SOURCE", "DEVICE", "OPERATING_SYSTEM", "FILE"}
FILE_TYPES = {"OTHER", "DOCUMENTATION", "IMAGE", "VIDEO", "ARCHIVE", "SPDX", "APPLICATION",
              "SOURCE", "BINARY", "TEXT", "AUDIO"}
REF_CATS = {"OTHER", "PERSISTENT-ID", "SECURITY", "PACKAGE-MANAGER"}
REL_TYPES = set("""VARIANT_OF COPY_OF PATCH_FOR TEST_DEPENDENCY_OF CONTAINED_BY DATA_FILE_OF
OPTIONAL_COMPONENT_OF ANCESTOR_OF GENERATES CONTAINS OPTIONAL_DEPENDENCY_OF FILE_ADDED
REQUIREMENT_DESCRIPTION_FOR DEV_DEPENDENCY_OF DEPENDENCY_OF BUILD_DEPENDENCY_OF DESCRIBES
PREREQUISITE_FOR HAS_PREREQUISITE PROVIDED_DEPENDENCY_OF DYNAMIC_LINK DESCRIBED_BY METAFILE_OF
DEPENDENCY_MANIFEST_OF PATCH_APPLIED RUNTIME_DEPENDENCY_OF TEST_OF TEST_TOOL_OF DEPENDS_ON
SPECIFICATION_FOR FILE_MODIFIED DISTRIBUTION_ARTIFACT AMENDS DOCUMENTATION_OF GENERATED_FROM
STATIC_LINK OTHER BUILD_TOOL_OF TEST_CASE_OF PACKAGE_OF DESCENDANT_OF FILE_DELETED
EXPANDED_FROM_ARCHIVE DEV_TOOL_OF EXAMPLE_OF""".split())
DOC_KEYS = {"SPDXID", "annotations", "comment", "creationInfo", "dataLicense",
            "externalDocumentRefs", "hasExtractedLicensingInfos", "name", "revieweds",
            "spdxVersion", "documentNamespace", "documentDescribes", "packages", "files",
            "snippets", "relationships"}
PKG_KEYS = {"SPDXID", "annotations", "attributionTexts", "builtDate", "checksums", "comment",
            "copyrightText", "description", "downloadLocation", "externalRefs", "filesAnalyzed",
            "hasFiles", "homepage", "licenseComments", "licenseConcluded", "licenseDeclared",
            "licenseInfoFromFiles", "name", "originator", "packageFileName",
            "packageVerificationCode", "primaryPackagePurpose", "releaseDate", "sourceInfo",
            "summary", "supplier", "validUntilDate", "versionInfo"}
FILE_KEYS = {"SPDXID", "annotations", "artifactOfs", "attributionTexts", "checksums", "comment",
             "copyrightText", "fileContributors", "fileDependencies", "fileName", "fileTypes",
             "licenseComments", "licenseConcluded", "licenseInfoInFiles", "noticeText"}
REL_KEYS = {"spdxElementId", "comment", "relatedSpdxElement", "relationshipType"}
AGENT_RE = re.compile(r"^(Person|Organization|Tool): \S")


def structure(doc):
    errs = []
    e = errs.append
    if not isinstance(doc, dict):
        return ["the document is not a JSON object"]
    for k in ("SPDXID", "creationInfo", "dataLicense", "name", "spdxVersion",
              "documentNamespace"):
        if k not in doc:
            e("missing %s" % k)
    for k in set(doc) - DOC_KEYS:
        e("unknown top-level field %s" % k)
    if doc.get("spdxVersion") != "SPDX-2.3":
        e("spdxVersion is %r" % doc.get("spdxVersion"))
    if doc.get("dataLicense") != "CC0-1.0":
        e("dataLicense must be CC0-1.0")
    if doc.get("SPDXID") != "SPDXRef-DOCUMENT":
        e("the document's SPDXID must be SPDXRef-DOCUMENT")
    if not isinstance(doc.get("name"), str) or not doc.get("name"):
        e("empty document name")
    ns = doc.get("documentNamespace", "")
    if not re.match(r"^[a-z][a-z0-9+.\-]*://\S+$", ns) or "#" in ns:
        e("documentNamespace %r is not a URI without '#'" % ns)
    ci = doc.get("creationInfo", {})
    if not isinstance(ci, dict):
        ci = {}
        e("creationInfo is not an object")
    for k in set(ci) - {"comment", "created", "creators", "licenseListVersion"}:
        e("unknown creationInfo field %s" % k)
    if not DATE_RE.match(str(ci.get("created", ""))):
        e("creationInfo.created %r is not YYYY-MM-DDThh:mm:ssZ" % ci.get("created"))
    creators = ci.get("creators")
    if not isinstance(creators, list) or not creators:
        e("creationInfo.creators is empty")
    else:
        for c in creators:
            if not isinstance(c, str) or not AGENT_RE.match(c):
                e("creator %r is not 'Person|Organization|Tool: …'" % c)

    ids = {"SPDXRef-DOCUMENT"}

    def new_id(i, where):
        if not isinstance(i, str) or not ID_RE.match(i):
            e("%s: bad SPDXID %r" % (where, i))
        elif i in ids:
            e("%s: duplicate SPDXID %s" % (where, i))
        ids.add(i)

    def checksums(cs, where, need_sha1=False):
        if not isinstance(cs, list) or not cs:
            e("%s: checksums must be a non-empty list" % where)
            return
        algos = set()
        for c in cs:
            if not isinstance(c, dict) or set(c) != {"algorithm", "checksumValue"}:
                e("%s: a checksum needs exactly algorithm and checksumValue" % where)
                continue
            a, v = c["algorithm"], c["checksumValue"]
            algos.add(a)
            if a not in ALGOS:
                e("%s: unknown checksum algorithm %s" % (where, a))
            if not re.match(r"^[0-9a-f]+$", str(v)) or (a in HEX_LEN and len(v) != HEX_LEN[a]):
                e("%s: %s value is not lower-case hex of the right length" % (where, a))
        if need_sha1 and "SHA1" not in algos:
            e("%s: a file needs a SHA1 checksum" % where)

    not_analysed = set()
    for p in doc.get("packages", []):
        where = "package %s" % p.get("SPDXID")
        for k in ("SPDXID", "name", "downloadLocation"):
            if k not in p:
                e("%s: missing %s" % (where, k))
        for k in set(p) - PKG_KEYS:
            e("%s: unknown field %s" % (where, k))
        new_id(p.get("SPDXID"), where)
        dl = p.get("downloadLocation", "")
        if dl not in ("NOASSERTION", "NONE") and not re.match(r"^[a-z][a-z0-9+.\-]*:\S+$", dl):
            e("%s: downloadLocation %r" % (where, dl))
        if p.get("primaryPackagePurpose", "OTHER") not in PURPOSES:
            e("%s: primaryPackagePurpose %r" % (where, p.get("primaryPackagePurpose")))
        if "filesAnalyzed" in p and not isinstance(p["filesAnalyzed"], bool):
            e("%s: filesAnalyzed is not a boolean" % where)
        if p.get("filesAnalyzed", True):  # true by default in 2.3
            if "packageVerificationCode" not in p:
                e("%s: files analysed but no packageVerificationCode" % where)
        else:
            not_analysed.add(p.get("SPDXID"))
            if "packageVerificationCode" in p or p.get("hasFiles"):
                e("%s: files not analysed, yet files or a verification code" % where)
        if "checksums" in p:
            checksums(p["checksums"], where)
        if "supplier" in p and p["supplier"] != "NOASSERTION" and not AGENT_RE.match(p["supplier"]):
            e("%s: supplier %r" % (where, p["supplier"]))
        for r in p.get("externalRefs", []):
            if set(r) - {"comment", "referenceCategory", "referenceLocator", "referenceType"}:
                e("%s: unknown externalRefs field" % where)
            if r.get("referenceCategory") not in REF_CATS:
                e("%s: referenceCategory %r" % (where, r.get("referenceCategory")))
            loc = r.get("referenceLocator", "")
            if " " in loc or not loc:
                e("%s: referenceLocator %r" % (where, loc))
            if r.get("referenceType") == "purl" and not re.match(r"^pkg:[a-z]+/[^@\s]+@[^\s]+$", loc):
                e("%s: purl %r" % (where, loc))
    for f in doc.get("files", []):
        where = "file %s" % f.get("SPDXID")
        for k in ("SPDXID", "checksums", "fileName"):
            if k not in f:
                e("%s: missing %s" % (where, k))
        for k in set(f) - FILE_KEYS:
            e("%s: unknown field %s" % (where, k))
        new_id(f.get("SPDXID"), where)
        checksums(f.get("checksums"), where, need_sha1=True)
        for t in f.get("fileTypes", []):
            if t not in FILE_TYPES:
                e("%s: fileType %r" % (where, t))
    described = False
    for r in doc.get("relationships", []):
        for k in ("spdxElementId", "relatedSpdxElement", "relationshipType"):
            if k not in r:
                e("relationship %r: missing %s" % (r, k))
        if set(r) - REL_KEYS:
            e("relationship %r: unknown field" % (r,))
        t = r.get("relationshipType")
        if t not in REL_TYPES:
            e("relationship type %r" % t)
        a, b = r.get("spdxElementId"), r.get("relatedSpdxElement")
        if a not in ids:
            e("relationship from unknown element %s" % a)
        if b not in ids and b not in ("NOASSERTION", "NONE"):
            e("relationship to unknown element %s" % b)
        if a == "SPDXRef-DOCUMENT" and t == "DESCRIBES":
            described = True
        if (t == "CONTAINS" and a in not_analysed) or (t == "CONTAINED_BY" and b in not_analysed):
            e("package %s: files not analysed, yet it CONTAINS %s" % (a if t == "CONTAINS" else b,
                                                                     b if t == "CONTAINS" else a))
    if not described and not doc.get("documentDescribes"):
        e("the document DESCRIBES nothing")
    return errs


@functools.lru_cache(maxsize=None)
def installed_version(pkg):
    return subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                          text=True).stdout


@functools.lru_cache(maxsize=None)
def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def ldd_libraries(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "=>" and parts[2].startswith("/"):
            libs.append(parts[2])
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])
    return libs


def candidates(path):
    cands = []
    for p in (path, os.path.realpath(path)):
        cands += [p, "/usr" + p, p[4:] if p.startswith("/usr/") else p]
    return cands


@functools.lru_cache(maxsize=None)
def owners(binary):
    """path -> package for every candidate path of every library (one dpkg-query -S)."""
    paths = sorted({c for lib in ldd_libraries(binary) for c in candidates(lib)})
    out = subprocess.run(["dpkg-query", "-S"] + paths, capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        pkg, _, path = line.partition(": ")
        if "," not in pkg:  # "a, b: path" is a diversion or a shared directory
            found[path] = pkg
    return found


def owner(binary, path):
    found = owners(binary)
    for c in candidates(path):
        if c in found:
            return found[c]
    return None


def content(doc, binary, lock):
    errs = []
    e = errs.append
    pkgs = {p.get("name"): p for p in doc.get("packages", [])}
    files = {f.get("fileName"): f for f in doc.get("files", [])}
    app = [p for p in doc.get("packages", []) if p.get("primaryPackagePurpose") == "APPLICATION"]
    if len(app) != 1:
        e("not exactly one APPLICATION package")
    elif {"algorithm": "SHA256", "checksumValue": sha256(binary)} not in app[0].get("checksums", []):
        e("the application's SHA256 is not the binary's")
    rels = {(r.get("spdxElementId"), r.get("relationshipType"), r.get("relatedSpdxElement"))
            for r in doc.get("relationships", [])}
    for lib in ldd_libraries(binary):
        f = files.get("." + lib)
        if not f:
            e("library %s is not listed" % lib)
            continue
        want = sha256(os.path.realpath(lib))
        if {"algorithm": "SHA256", "checksumValue": want} not in f.get("checksums", []):
            e("library %s: SHA256 differs from the file on disk" % lib)
        pkg = owner(binary, lib)
        if not pkg:
            e("library %s: dpkg names no package" % lib)
            continue
        ver = installed_version(pkg)
        name = pkg.split(":")[0]
        p = pkgs.get(name)
        if not p:
            e("package %s (of %s) is not listed" % (name, lib))
            continue
        if p.get("versionInfo") != ver:
            e("package %s: version %r, dpkg-query says %r" % (name, p.get("versionInfo"), ver))
        if not any(r.get("referenceType") == "purl" and r.get("referenceLocator", "")
                   .startswith("pkg:deb/debian/%s@" % name) for r in p.get("externalRefs", [])):
            e("package %s: no pkg:deb purl" % name)
        if app and (app[0]["SPDXID"], "DEPENDS_ON", p["SPDXID"]) not in rels:
            e("the application does not DEPEND_ON %s" % name)
        if app and (app[0]["SPDXID"], "DYNAMIC_LINK", f["SPDXID"]) not in rels:
            e("the application does not DYNAMIC_LINK %s" % lib)
    if not any(p.get("primaryPackagePurpose") == "OPERATING_SYSTEM" for p in pkgs.values()):
        e("no OPERATING_SYSTEM package (scanners need the distribution)")
    if lock and os.path.exists(lock):
        data = json.load(open(lock))
        for key, meta in data.get("packages", {}).items():
            if not key or "node_modules/" not in key or meta.get("link"):
                continue
            name = key.rsplit("node_modules/", 1)[1]
            p = pkgs.get(name)
            if not p or p.get("versionInfo") != meta.get("version"):
                e("npm package %s %s is not listed" % (name, meta.get("version")))
    return errs


def check(doc, binary, lock):
    errs = structure(doc)
    if not errs:
        errs = content(doc, binary, lock)
    return errs


def self_test(doc, binary, lock):
    def mutate(fn):
        d = copy.deepcopy(doc)
        fn(d)
        return d

    first_lib = lambda d: d["files"][0]
    deb = lambda d: [p for p in d["packages"] if p["SPDXID"].startswith("SPDXRef-Package-deb")][0]
    cases = {
        "wrong spdxVersion": lambda d: d.update(spdxVersion="SPDX-2.2"),
        "no creators": lambda d: d["creationInfo"].update(creators=[]),
        "local time": lambda d: d["creationInfo"].update(created="2026-01-01T10:00:00+01:00"),
        "unknown field": lambda d: d["packages"][0].update(vendor="x"),
        "bad SPDXID": lambda d: d["packages"][0].update(SPDXID="SPDXRef-a b"),
        "duplicate SPDXID": lambda d: d["files"][1].update(SPDXID=d["files"][0]["SPDXID"]),
        "file without SHA1": lambda d: first_lib(d).update(
            checksums=[c for c in first_lib(d)["checksums"] if c["algorithm"] != "SHA1"]),
        "upper-case hex": lambda d: first_lib(d)["checksums"][0].update(
            checksumValue=first_lib(d)["checksums"][0]["checksumValue"].upper()),
        "dangling relationship": lambda d: d["relationships"].append(
            {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
             "relatedSpdxElement": "SPDXRef-nothing"}),
        "unknown relationship": lambda d: d["relationships"][0].update(relationshipType="USES"),
        "CONTAINS without analysis": lambda d: d["relationships"].append(
            {"spdxElementId": deb(d)["SPDXID"], "relationshipType": "CONTAINS",
             "relatedSpdxElement": d["files"][0]["SPDXID"]}),
        "namespace with #": lambda d: d.update(documentNamespace="https://x.example/a#b"),
        "OPERATING-SYSTEM (tag-value spelling)": lambda d: [p.update(
            primaryPackagePurpose="OPERATING-SYSTEM") for p in d["packages"]
            if p.get("primaryPackagePurpose") == "OPERATING_SYSTEM"],
        "stale package version": lambda d: deb(d).update(versionInfo="0.0-0"),
        "a library left out": lambda d: d.update(files=d["files"][1:]),
        "a package left out": lambda d: d.update(packages=[p for p in d["packages"]
                                                           if p is not deb(d)]),
        "wrong library checksum": lambda d: [c.update(checksumValue="0" * 64)
                                             for c in first_lib(d)["checksums"]
                                             if c["algorithm"] == "SHA256"],
    }
    bad = 0
    for name, fn in cases.items():
        errs = check(mutate(fn), binary, lock)
        if not errs:
            print("sbom check self-test: NOT flagged: %s" % name)
            bad += 1
    if check(doc, binary, lock):
        print("sbom check self-test: the unmodified document fails")
        bad += 1
    print("sbom check self-test: %d of %d breakages flagged" % (len(cases) - bad, len(cases)))
    return 1 if bad else 0


def main(argv):
    selftest = argv[1:2] == ["--self-test"]
    args = argv[2:] if selftest else argv[1:]
    if len(args) not in (2, 3):
        print(__doc__)
        return 2
    doc = json.load(open(args[0]))
    binary, lock = args[1], args[2] if len(args) == 3 else None
    if selftest:
        return self_test(doc, binary, lock)
    errs = check(doc, binary, lock)
    for x in errs:
        print("sbom check: %s" % x)
    if errs:
        return 1
    print("sbom check: %s is valid SPDX 2.3 and lists all %d libraries of %s" % (
        args[0], len(doc.get("files", [])), binary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
