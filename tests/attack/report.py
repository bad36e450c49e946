#!/usr/bin/env python3
"""Assemble OUTDIR/report.md from the stages' fragments.

Usage: report.py OUTDIR BINARY TOTAL_SECONDS BUDGET STATUS
"""
import datetime
import hashlib
import json
import os
import platform
import re
import subprocess
import sys

from attacklib import md_escape

ORDER = [("jwt", "JWT forgeries"), ("malformed", "Oversize and malformed requests"),
         ("headers", "Header and log injection"), ("sqlmap", "sqlmap"), ("slow", "slowhttptest"),
         ("log", "Server log and shutdown")]


def version(cmd, pattern):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    m = re.search(pattern, out)
    return m.group(1) if m else "?"


def dpkg(pkg):
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                              text=True, timeout=10).stdout or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def main():
    outdir, binary, total, budget, status = sys.argv[1:6]
    timing = []
    path = os.path.join(outdir, "timing.tsv")
    if os.path.exists(path):
        for line in open(path):
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 4:
                timing.append(parts)
    sha = hashlib.sha256(open(binary, "rb").read()).hexdigest()
    ok = status == "0"
    out = ["# gatehouse attack suite report", "",
           f"- Verdict: **{'PASS' if ok else 'FAIL'}**",
           f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M:%S} UTC",
           f"- Total time: {total} s (budget {budget} s)",
           f"- Binary: `{binary}` (sha256 `{sha[:16]}…`)",
           f"- Tools: sqlmap {dpkg('sqlmap')}, slowhttptest {dpkg('slowhttptest')}, "
           f"faketime {dpkg('faketime')}, Python {platform.python_version()}, "
           f"libmicrohttpd {dpkg('libmicrohttpd12')}",
           "- Loopback only: gatehouse, the controls and the attacker's jku server all listen on "
           "127.0.0.1; nothing leaves the machine.",
           "", "| stage | time | limit | verdict |", "|---|---|---|---|"]
    for name, secs, limit, verdict in timing:
        out.append(f"| {name} | {secs} s | {limit} s | {verdict} |")
    # Open findings: known (listed in known-findings.txt) and advisory rows of every stage.
    findings = []
    for key, title in ORDER:
        jp = os.path.join(outdir, f"{key}.json")
        if key == "sqlmap" or not os.path.exists(jp):
            continue
        for check, exp, got, verdict in json.load(open(jp))["rows"]:
            if verdict in ("known", "advisory", "FAIL"):
                findings.append(f"- **{verdict}** ({title}) {md_escape(check)}: expected "
                                f"{md_escape(exp)}, got {md_escape(got)}")
    sj = os.path.join(outdir, "sqlmap.json")
    if os.path.exists(sj):
        for r in json.load(open(sj)):
            if not r["ok"]:
                findings.append(f"- **FAIL** (sqlmap) {r['name']}: {md_escape('; '.join(r['problems']))}")
    out += ["", "## Findings", ""]
    out += findings or ["None."]
    out.append("")
    for key, _ in ORDER:
        mp = os.path.join(outdir, f"{key}.md")
        if os.path.exists(mp):
            out.append(open(mp).read())
        elif any(t[0] == key for t in timing):
            out += [f"## {key}", "", "No report: the stage did not finish (see its log).", ""]
    with open(os.path.join(outdir, "report.md"), "w") as f:
        f.write("\n".join(out))
    print("\n".join(out[:out.index("## Findings") + len(findings) + 3]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
