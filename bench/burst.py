#!/usr/bin/env python3
"""A quick burst from one client address, to check that the API rate limit still bites.

usage: burst.py HOST:PORT XFF_ADDRESS N

Sends N GET /v1/me (no token) back to back on one keep-alive connection, each with
X-Forwarded-For: XFF_ADDRESS (the server must trust 127.0.0.1 as a proxy), and prints
key=value lines: the count of each status, the index of the first 429 and the elapsed time.
With the default API budget (burst 300, 6000/min = 100/s) about 300 + 100/s x elapsed are
answered 401 (the guard let them through to authentication) and the rest 429. Stdlib only.
"""
import http.client
import sys
import time


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    addr, n = sys.argv[2], int(sys.argv[3])
    hdrs = {"Accept": "application/json", "X-Forwarded-For": addr}
    counts, first429 = {}, -1
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    t0 = time.perf_counter()
    for i in range(n):
        c.request("GET", "/v1/me", headers=hdrs)
        r = c.getresponse()
        r.read()
        counts[r.status] = counts.get(r.status, 0) + 1
        if r.status == 429 and first429 < 0:
            first429 = i
        if r.getheader("Connection", "").lower() == "close":
            c.close()
            c = http.client.HTTPConnection(host, int(port), timeout=10)
    elapsed = time.perf_counter() - t0
    c.close()
    print(f"n={n}")
    print(f"s401={counts.pop(401, 0)}")
    print(f"s429={counts.pop(429, 0)}")
    print(f"sother={sum(counts.values())}")
    print(f"first429={first429}")
    print(f"elapsed_ms={elapsed * 1000:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
