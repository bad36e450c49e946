#!/usr/bin/env python3
"""Time from exec to the first 200 on /healthz, and idle RSS after start.

usage: startup.py BINARY PORT RUNS DATA_DIR|fresh LOG_FILE

Environment is inherited (GATEHOUSE_* from the caller); GATEHOUSE_LISTEN and
GATEHOUSE_DATA_DIR are set here. DATA_DIR "fresh" uses a new empty directory per run (first
start: migrations, key generation); otherwise the given (populated) directory is reused.
Polls with a raw socket in a tight loop (connect refused -> retry at once). After the first
200 the process idles 1 s, VmRSS is read from /proc/PID/status, then it gets SIGTERM.
Prints key=value lines: per-run ms, median ms, per-run idle RSS KiB, median RSS.
"""
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def healthz_ok(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.startswith(b"HTTP/1.1 200") or data.startswith(b"HTTP/1.0 200")
    except OSError:
        return False
    finally:
        s.close()


def vmrss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    binary, port, runs, data, logf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    times, rss = [], []
    log = open(logf, "ab")
    for r in range(runs):
        tmp = None
        if data == "fresh":
            tmp = tempfile.mkdtemp(prefix="gh-start-")
            ddir = tmp
        else:
            ddir = data
        env = dict(os.environ, GATEHOUSE_LISTEN=f"127.0.0.1:{port}", GATEHOUSE_DATA_DIR=ddir)
        t0 = time.perf_counter()
        p = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=log)
        ok = False
        while time.perf_counter() - t0 < 10.0:
            if healthz_ok(port):
                ok = True
                break
            if p.poll() is not None:
                break
        ms = (time.perf_counter() - t0) * 1000.0
        if ok:
            time.sleep(1.0)
            rss.append(vmrss_kib(p.pid))
            times.append(ms)
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        if not ok:
            print(f"run{r}_failed=1")
            continue
        print(f"run{r}_ms={ms:.1f}")
        print(f"run{r}_rss_kib={rss[-1]}")
        time.sleep(0.2)
    if times:
        print(f"median_ms={statistics.median(times):.1f}")
        print(f"min_ms={min(times):.1f}")
        print(f"max_ms={max(times):.1f}")
        print(f"median_rss_kib={int(statistics.median(rss))}")
    print(f"ok_runs={len(times)}")
    return 0 if len(times) == runs else 1


if __name__ == "__main__":
    sys.exit(main())
