#!/usr/bin/env python3
"""The server log after the whole attack run: one JSON object per line, nothing forged,
no crash or sanitizer output, no 5xx, every request line complete.

Usage: log_check.py SERVER_LOG OUTDIR [EXIT_STATUS]   → OUTDIR/log.md, exit 1 on any failure.
EXIT_STATUS is gatehouse's exit status after SIGTERM (must be 0).
"""
import collections
import json
import os
import re
import sys

from attacklib import Results

CRASH_RE = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|"
                      r"SUMMARY: |Segmentation fault|stack smashing|double free|malloc\(\)|"
                      r"free\(\): |core dumped|Aborted|assertion .* failed", re.I)
FORGED_KEYS = {"forged", "x-injected", "X-Injected"}


def main():
    path, outdir = sys.argv[1], sys.argv[2]
    exit_status = sys.argv[3] if len(sys.argv) > 3 else None
    r = Results("Server log and shutdown",
                f"Every line of the server's JSON-lines log ({os.path.basename(path)}) of the "
                "whole run, parsed with `json.loads`; crash and sanitizer patterns searched in "
                "the raw bytes.",
                key="log")
    raw = open(path, "rb").read()
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    bad_utf8, bad_json, not_obj, missing_base, forged, crash = [], [], [], [], [], []
    statuses = collections.Counter()
    incomplete, five_xx, levels = [], [], collections.Counter()
    for i, b in enumerate(lines, 1):
        if CRASH_RE.search(b.decode("latin-1")):
            crash.append(i)
        try:
            s = b.decode("utf-8")
        except UnicodeDecodeError:
            bad_utf8.append(i)
            continue
        try:
            o = json.loads(s)
        except ValueError:
            bad_json.append(i)
            continue
        if not isinstance(o, dict):
            not_obj.append(i)
            continue
        if not all(k in o for k in ("ts", "level", "msg")):
            missing_base.append(i)
        if FORGED_KEYS & set(o) or o.get("msg") == "forged":
            forged.append(i)
        levels[o.get("level")] += 1
        if o.get("event") == "http_request":
            if not all(k in o for k in ("method", "path", "status", "client")):
                incomplete.append(i)
            else:
                statuses[o["status"]] += 1
                if o["status"] >= 500:
                    five_xx.append(f"line {i}: {o['method']} {o['path'][:60]} → {o['status']}")

    def first(xs):
        return "" if not xs else " (line " + ", ".join(str(x) for x in xs[:5]) + ")"

    r.add("lines in the log", "> 0", len(lines), len(lines) > 0)
    r.add("every line valid UTF-8", "0 bad", f"{len(bad_utf8)} bad{first(bad_utf8)}",
          not bad_utf8)
    r.add("every line one JSON object (json.loads)", "0 bad",
          f"{len(bad_json) + len(not_obj)} bad{first(bad_json + not_obj)}",
          not bad_json and not not_obj)
    r.add("every line has ts, level, msg", "0 missing",
          f"{len(missing_base)} missing{first(missing_base)}", not missing_base)
    r.add("no forged key or message from the injection payloads", "0",
          f"{len(forged)}{first(forged)}", not forged)
    r.add("no crash / sanitizer / assertion output", "0", f"{len(crash)}{first(crash)}",
          not crash)
    r.add("every http_request line keeps method, path, status, client", "0 incomplete",
          f"{len(incomplete)} incomplete{first(incomplete)}", not incomplete)
    r.add("no 5xx answered during the run", "0", f"{len(five_xx)}" +
          ("" if not five_xx else ": " + "; ".join(five_xx[:3])), not five_xx)
    r.add("no 429 during the run (rate limits raised: the tools met the application)", "0",
          statuses.get(429, 0), not statuses.get(429))
    r.add("no error-level log line", "0", levels.get("error", 0), not levels.get("error"))
    if exit_status is not None:
        r.add("gatehouse exit status after SIGTERM", "0", exit_status, exit_status == "0")
    total = sum(statuses.values())
    r.note(f"{len(lines)} log lines; {total} complete request lines by status: " +
           ", ".join(f"{k}×{v}" for k, v in sorted(statuses.items())))
    r.note("log levels: " + ", ".join(f"{k}×{v}" for k, v in sorted(levels.items(), key=str)))
    if incomplete:
        r.note("incomplete request lines look like: " +
               lines[incomplete[0] - 1].decode("utf-8", "replace")[:200])
    return r.write(outdir, "log")


if __name__ == "__main__":
    sys.exit(main())
