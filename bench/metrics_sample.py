#!/usr/bin/env python3
"""Sample gatehouse's hashing metrics during the isolation run, and summarise the samples.

usage: metrics_sample.py sample METRICS_URL OUT INTERVAL_S
       metrics_sample.py summary SAMPLES T0 T1

sample: every INTERVAL_S, GET METRICS_URL (the GATEHOUSE_METRICS_LISTEN listener) and append
one line "epoch depth rejected logins_ok wait_sum wait_count" to OUT, until SIGTERM.
summary: key=value lines for the samples with T0 <= epoch <= T1 (epoch seconds, as from
`date +%s.%N`): depth min/median/max, samples, and the deltas of the counters between the
first and last sample in the window (503s from a full queue, successful logins, mean wait).
Stdlib only.
"""
import signal
import sys
import time
import urllib.request

WANT = {
    "gatehouse_hash_queue_depth": 1,
    "gatehouse_hash_rejected_total": 2,
    'gatehouse_logins_total{result="success"}': 3,
    "gatehouse_hash_wait_seconds_sum": 4,
    "gatehouse_hash_wait_seconds_count": 5,
    "gatehouse_hash_threads_yielding": 6,
}


def scrape(url):
    row = [time.time(), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    with urllib.request.urlopen(url, timeout=2) as r:
        for line in r.read().decode().splitlines():
            if not line or line[0] == "#":
                continue
            name, _, value = line.rpartition(" ")
            if name in WANT:
                row[WANT[name]] = float(value)
    return row


def sample(url, out, interval):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    with open(out, "a") as fh:
        while not stop:
            t0 = time.time()
            try:
                row = scrape(url)
                fh.write(" ".join(f"{x:.3f}" if i == 0 else f"{x:g}" for i, x in enumerate(row)) + "\n")
                fh.flush()
            except OSError:
                pass  # a missed sample is not fatal; the summary counts samples
            time.sleep(max(0.0, interval - (time.time() - t0)))


def summary(path, t0, t1):
    rows = []
    for line in open(path):
        p = line.split()
        if len(p) == 7 and t0 <= float(p[0]) <= t1:
            rows.append([float(x) for x in p])
    print(f"samples={len(rows)}")
    if not rows:
        return
    d = sorted(r[1] for r in rows)
    print(f"depth_min={d[0]:g}")
    print(f"depth_median={d[len(d) // 2]:g}")
    print(f"depth_max={d[-1]:g}")
    first, last = rows[0], rows[-1]
    span = last[0] - first[0]
    print(f"span_s={span:.1f}")
    print(f"rejected={last[2] - first[2]:g}")
    ok = last[3] - first[3]
    print(f"logins_ok={ok:g}")
    print(f"logins_ok_rate={ok / span if span > 0 else float('nan'):.1f}")
    n = last[5] - first[5]
    print(f"wait_mean_ms={(last[4] - first[4]) / n * 1000 if n > 0 else float('nan'):.0f}")
    y = sorted(r[6] for r in rows)
    print(f"yielding_median={y[len(y) // 2]:g}")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "sample":
        sample(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif len(sys.argv) == 5 and sys.argv[1] == "summary":
        summary(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
