#!/usr/bin/env python3
"""Create N distinct users concurrently and log each in once.

usage: setup_users.py HOST:PORT COUNT PREFIX CONCURRENCY TOKENS_OUT [EMAILS_OUT]

Emails are PREFIX-<i>@bench.example, all with the same password (bench.PASSWORD below).
Writes one access token per line to TOKENS_OUT (only the tokens of users logged in here), and,
if given, one email per line to EMAILS_OUT. Loopback only; stdlib only.
"""
import http.client
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

PASSWORD = "Vq7-larch-Mosaic-quill-4812"

_local = threading.local()


def conn(host, port):
    c = getattr(_local, "c", None)
    if c is None:
        c = http.client.HTTPConnection(host, port, timeout=30)
        _local.c = c
    return c


def post(host, port, path, body):
    payload = json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json", "Accept": "application/json"}
    for attempt in range(5):
        c = conn(host, port)
        try:
            c.request("POST", path, body=payload, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            if r.getheader("Connection", "").lower() == "close":
                c.close()
                _local.c = None
            if r.status == 503:  # hash queue full: back off and retry
                time.sleep(0.05 * (attempt + 1))
                continue
            return r.status, data
        except (ConnectionError, http.client.HTTPException, OSError):
            c.close()
            _local.c = None
            time.sleep(0.05)
    raise RuntimeError(f"{path}: giving up after retries")


def one(host, port, email):
    st, data = post(host, port, "/v1/users", {"email": email, "password": PASSWORD})
    if st not in (201, 409):
        raise RuntimeError(f"create {email}: HTTP {st} {data[:200]!r}")
    st, data = post(host, port, "/v1/token", {"email": email, "password": PASSWORD})
    if st != 200:
        raise RuntimeError(f"login {email}: HTTP {st} {data[:200]!r}")
    return json.loads(data)["access_token"]


def main():
    if len(sys.argv) < 6:
        print(__doc__, file=sys.stderr)
        return 2
    host, port = sys.argv[1].rsplit(":", 1)
    port = int(port)
    count, prefix, conc = int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    tokens_out = sys.argv[5]
    emails_out = sys.argv[6] if len(sys.argv) > 6 else None
    emails = [f"{prefix}-{i}@bench.example" for i in range(count)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=conc) as ex:
        tokens = list(ex.map(lambda e: one(host, port, e), emails))
    el = time.perf_counter() - t0
    if len(set(tokens)) != count:
        raise RuntimeError("tokens are not distinct")
    with open(tokens_out, "w") as f:
        f.write("\n".join(tokens) + "\n")
    if emails_out:
        with open(emails_out, "w") as f:
            f.write("\n".join(emails) + "\n")
    print(f"created+logged in {count} users in {el:.1f}s ({2 * count / el:.0f} req/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
