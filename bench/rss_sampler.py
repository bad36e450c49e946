#!/usr/bin/env python3
"""Append the VmRSS (KiB) of PID to OUT every 100 ms until PID is gone or this is killed.

usage: rss_sampler.py PID OUT

One long-lived process: sampling costs a file read, not a fork and exec of awk and sleep
ten times a second, which took CPU from the server under test (the hash threads run at
SCHED_IDLE and lose to any other work). Stdlib only.
"""
import signal
import sys
import time


def main():
    pid, out = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(out, "a", buffering=1) as f:
        while True:
            try:
                with open(f"/proc/{pid}/status") as st:
                    for line in st:
                        if line.startswith("VmRSS:"):
                            f.write(line.split()[1] + "\n")
                            break
            except OSError:
                return
            time.sleep(0.1)


if __name__ == "__main__":
    main()
