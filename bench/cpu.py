#!/usr/bin/env python3
"""CPU time of processes and of the machine, for per-request CPU figures (bench/scaleout.sh).

usage:
  cpu.py snap NAME=SPEC [NAME=SPEC ...]   one line "NAME TICKS" per group, then "machine_busy
                                           TICKS", "machine_all TICKS", "clk_tck N", "t SECONDS"
  cpu.py diff BEFORE AFTER                 "NAME_ms=..." (CPU milliseconds spent in between) per
                                           group and for the machine, and "wall_ms=..."
  cpu.py run OUT -- CMD [ARG ...]          run CMD (stdout and stderr pass through; SIGINT and
                                           SIGTERM are passed on to it) and write "user_ms=...
                                           sys_ms=..." of it and its children to OUT

SPEC is a comma-separated list of PIDs (utime + stime of each, from /proc/PID/stat: every thread
of the process), where "@PID" also counts PID's live children and the children it has already
reaped (cutime + cstime): a PostgreSQL postmaster and its backends, including backends that
exited in between. A PID that is gone counts 0. Machine figures are from /proc/stat's first line
(busy = user + nice + system + irq + softirq + steal; all = busy + idle + iowait). stdlib only.
"""
import os
import resource
import signal
import subprocess
import sys
import time


def stat_fields(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    # comm may hold spaces and parentheses: the fields start after the last ')'
    return s[s.rindex(")") + 2:].split()


def ticks(pid, with_children):
    f = stat_fields(pid)
    if f is None:
        return 0
    # after comm: [0]=state [1]=ppid ... [11]=utime [12]=stime [13]=cutime [14]=cstime
    t = int(f[11]) + int(f[12])
    if with_children:
        t += int(f[13]) + int(f[14])
        for child in children(pid):
            t += ticks(child, True)
    return t


def children(pid):
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def machine():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq = v[:7]
    steal = v[7] if len(v) > 7 else 0
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def snap(specs):
    t = time.monotonic()
    for spec in specs:
        name, _, pids = spec.partition("=")
        total = 0
        for p in filter(None, pids.split(",")):
            total += ticks(int(p.lstrip("@")), p.startswith("@"))
        print(name, total)
    busy, allt = machine()
    print("machine_busy", busy)
    print("machine_all", allt)
    print("clk_tck", os.sysconf("SC_CLK_TCK"))
    print("t", f"{t:.6f}")


def read(path):
    d = {}
    with open(path) as f:
        for line in f:
            k, v = line.split()
            d[k] = float(v)
    return d


def diff(a_path, b_path):
    a, b = read(a_path), read(b_path)
    hz = b["clk_tck"]
    for k in b:
        if k in ("clk_tck", "t"):
            continue
        print(f"{k}_ms={(b[k] - a.get(k, 0)) * 1000.0 / hz:.0f}")
    print(f"wall_ms={(b['t'] - a['t']) * 1000.0:.0f}")


def run(out, cmd):
    p = subprocess.Popen(cmd)
    # SIGINT/SIGTERM to this process go to the command (wrk reports when interrupted)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, f: p.send_signal(s))
    rc = p.wait()
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as f:
        f.write(f"user_ms={r.ru_utime * 1000:.0f} sys_ms={r.ru_stime * 1000:.0f}\n")
    return rc


def main():
    a = sys.argv[1:]
    if a and a[0] == "snap" and len(a) > 1:
        snap(a[1:])
        return 0
    if a and a[0] == "diff" and len(a) == 3:
        diff(a[1], a[2])
        return 0
    if len(a) > 3 and a[0] == "run" and a[2] == "--":
        return run(a[1], a[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
