#!/usr/bin/env python3
"""Response-time distributions: unknown email vs known email with a wrong password.

usage: timing.py HOST:PORT EMAILS_FILE N OUT_PREFIX

Sends N requests of each kind to POST /v1/token, sequentially, interleaved in a random order
(so drift affects both equally), over one keep-alive connection, after a short warm-up. Each
request is timed client-side with time.perf_counter() from send to the last body byte.
Writes OUT_PREFIX.csv (kind,status,ms) and prints key=value lines for the report:
mean/p50/p90/p99 per kind, the difference of means, Welch's t and a Mann-Whitney z.
"""
import http.client
import json
import math
import random
import secrets
import sys
import time


def pct(sorted_xs, p):
    # nearest-rank percentile
    k = max(1, math.ceil(p / 100.0 * len(sorted_xs)))
    return sorted_xs[k - 1]


def mean(xs):
    return sum(xs) / len(xs)


def var(xs):
    m = mean(xs)
    return sum((x - m) ** 2 for x in xs) / (len(xs) - 1)


def mann_whitney_z(a, b):
    allv = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks = [0.0] * len(allv)
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1][0] == allv[i][0]:
            j += 1
        r = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            ranks[k] = r
        i = j + 1
    ra = sum(r for r, (_, g) in zip(ranks, allv) if g == 0)
    n1, n2 = len(a), len(b)
    u = ra - n1 * (n1 + 1) / 2.0
    mu = n1 * n2 / 2.0
    sd = math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12.0)
    return (u - mu) / sd


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    host, port = sys.argv[1].rsplit(":", 1)
    port = int(port)
    emails = [l.strip() for l in open(sys.argv[2]) if l.strip()]
    n = int(sys.argv[3])
    out = sys.argv[4]
    hdrs = {"Content-Type": "application/json", "Accept": "application/json"}
    c = http.client.HTTPConnection(host, port, timeout=30)

    def login(email, pw):
        body = json.dumps({"email": email, "password": pw}).encode()
        t0 = time.perf_counter()
        c.request("POST", "/v1/token", body=body, headers=hdrs)
        r = c.getresponse()
        r.read()
        return r.status, (time.perf_counter() - t0) * 1000.0

    def unknown(k):
        return login(f"nobody-{k}-{secrets.token_hex(4)}@bench.example", "Vq7-larch-Mosaic-quill-4812")

    def wrong(k):
        return login(emails[k % len(emails)], "wrong-password-" + secrets.token_hex(6))

    for k in range(10):  # warm-up: caches, page faults, first argon2 allocations
        unknown(k)
        wrong(k)

    plan = ["unknown"] * n + ["wrong"] * n
    random.shuffle(plan)
    res = {"unknown": [], "wrong": []}
    statuses = {"unknown": {}, "wrong": {}}
    rows = []
    for k, kind in enumerate(plan):
        st, ms = (unknown if kind == "unknown" else wrong)(k)
        res[kind].append(ms)
        statuses[kind][st] = statuses[kind].get(st, 0) + 1
        rows.append(f"{kind},{st},{ms:.3f}")
    with open(out + ".csv", "w") as f:
        f.write("kind,status,ms\n" + "\n".join(rows) + "\n")

    for kind in ("unknown", "wrong"):
        xs = sorted(res[kind])
        print(f"{kind}_n={len(xs)}")
        print(f"{kind}_status={' '.join(f'{s}x{c}' for s, c in sorted(statuses[kind].items()))}")
        print(f"{kind}_mean_ms={mean(xs):.3f}")
        print(f"{kind}_sd_ms={math.sqrt(var(xs)):.3f}")
        for p in (50, 90, 99):
            print(f"{kind}_p{p}_ms={pct(xs, p):.3f}")
    a, b = res["unknown"], res["wrong"]
    d = mean(a) - mean(b)
    se = math.sqrt(var(a) / len(a) + var(b) / len(b))
    print(f"diff_mean_ms={d:.3f}")
    print(f"diff_mean_pct={100.0 * d / mean(b):.2f}")
    print(f"welch_t={d / se if se > 0 else 0.0:.3f}")
    print(f"mwu_z={mann_whitney_z(a, b):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
